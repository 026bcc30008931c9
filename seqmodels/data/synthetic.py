"""Synthetic long-range tasks, generated deterministically from a seed: the test bed for vanishing gradients.

Each task makes ``(inputs, lengths, targets)`` arrays for a split from
``numpy.random.default_rng([seed, split_index])`` (train 0, valid 1, test 2), so the same arguments
always give the same data. ``seq_len`` sets how far information has to travel.

* :class:`AddingProblem` (Hochreiter & Schmidhuber 1997; the form of Le et al. 2015): inputs (T, 2),
  a random value in [0, 1) and a marker that is 1 at exactly two steps, one in each half; the target
  is the sum of the two marked values (regression). Always predicting 1 gives MSE 1/6 ~ 0.167.
* :class:`CopyMemory` (Arjovsky et al. 2016): ten symbols from {1..8}, then T - 1 blanks (0), a
  delimiter (9) and ten blanks; the targets are T + 10 blanks and then the ten symbols (one class per
  step, 9 classes). Inputs are one-hot (T + 20, 10). Blanks and then uniform guesses give
  cross-entropy ``10 log 8 / (T + 20)``.
* :class:`Parity`: T random bits (T, 1); the target is their XOR (2 classes). Chance is log 2 nats.

:class:`SyntheticDataModule` serves any of them as ``(inputs (B, T, F) float, lengths (B,), targets)``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from .resumable import ResumableDataLoader, ResumableTrainData

SPLIT_INDEX = {"train": 0, "valid": 1, "test": 2}


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


class SyntheticTask(ABC):
    """Base: sizes, seed, and ``generate(split) -> (inputs, lengths, targets)`` numpy arrays.

    Attributes set by subclasses: ``input_size`` (F), ``num_classes`` (None for regression),
    ``per_step`` (targets per time step), ``baseline_loss`` (the loss of the trivial predictor).
    """

    input_size: int = 1
    num_classes: int | None = None
    per_step: bool = False

    def __init__(
        self, seq_len: int = 100, num_train: int = 10_000, num_val: int = 1_000, num_test: int = 1_000, seed: int = 0
    ) -> None:
        self.seq_len = _positive_int("seq_len", seq_len)
        self.sizes = {
            "train": _positive_int("num_train", num_train),
            "valid": _positive_int("num_val", num_val),
            "test": _positive_int("num_test", num_test),
        }
        self.seed = seed

    def rng(self, split: str) -> np.random.Generator:
        if split not in SPLIT_INDEX:
            raise ValueError(f"split must be one of {tuple(SPLIT_INDEX)}, got {split!r}")
        return np.random.default_rng([self.seed, SPLIT_INDEX[split]])

    def generate(self, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(inputs (N, T, F) float32, lengths (N,) int64, targets)`` of a split."""
        rng = self.rng(split)
        inputs, targets = self._make(rng, self.sizes[split])
        lengths = np.full(len(inputs), inputs.shape[1], dtype=np.int64)
        return inputs, lengths, targets

    @abstractmethod
    def _make(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` examples: inputs (n, T, F) float32 and targets."""

    @property
    @abstractmethod
    def baseline_loss(self) -> float:
        """Loss of the best input-blind predictor (the level a model must beat to have learned anything)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(seq_len={self.seq_len}, sizes={self.sizes}, seed={self.seed})"


class AddingProblem(SyntheticTask):
    """The adding problem; targets float32 (N,). See the module docstring."""

    input_size = 2

    def __init__(
        self, seq_len: int = 100, num_train: int = 10_000, num_val: int = 1_000, num_test: int = 1_000, seed: int = 0
    ) -> None:
        super().__init__(seq_len, num_train, num_val, num_test, seed)
        if seq_len < 2:
            raise ValueError(f"seq_len must be >= 2 for the adding problem (one marker per half), got {seq_len}")

    def _make(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        T = self.seq_len
        half = T // 2
        values = rng.random((n, T), dtype=np.float32)
        first = rng.integers(0, half, size=n)
        second = rng.integers(half, T, size=n)
        markers = np.zeros((n, T), dtype=np.float32)
        rows = np.arange(n)
        markers[rows, first] = 1.0
        markers[rows, second] = 1.0
        targets = (values[rows, first] + values[rows, second]).astype(np.float32)
        return np.stack([values, markers], axis=-1), targets  # (n, T, 2), (n,)

    @property
    def baseline_loss(self) -> float:
        return 1.0 / 6.0  # Var(U1 + U2) for two independent U(0, 1)


class CopyMemory(SyntheticTask):
    """Copy memory; inputs one-hot (N, T + 20, 10), targets int64 (N, T + 20). See the module docstring."""

    input_size = 10
    num_classes = 9
    per_step = True
    N_SYMBOLS = 10  # copied symbols
    BLANK, DELIMITER = 0, 9

    def _make(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        T, K = self.seq_len, self.N_SYMBOLS
        total = T + 2 * K
        symbols = rng.integers(1, 9, size=(n, K))
        ids = np.full((n, total), self.BLANK, dtype=np.int64)
        ids[:, :K] = symbols
        ids[:, T + K - 1] = self.DELIMITER  # after the T - 1 blanks
        targets = np.full((n, total), self.BLANK, dtype=np.int64)
        targets[:, -K:] = symbols
        inputs = np.eye(self.input_size, dtype=np.float32)[ids]  # (n, T + 20, 10)
        return inputs, targets

    @property
    def baseline_loss(self) -> float:
        return self.N_SYMBOLS * math.log(8) / (self.seq_len + 2 * self.N_SYMBOLS)


class Parity(SyntheticTask):
    """XOR of T random bits; inputs (N, T, 1), targets int64 (N,)."""

    input_size = 1
    num_classes = 2

    def _make(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        bits = rng.integers(0, 2, size=(n, self.seq_len))
        return bits[..., None].astype(np.float32), (bits.sum(axis=1) % 2).astype(np.int64)

    @property
    def baseline_loss(self) -> float:
        return math.log(2)


class SyntheticDataModule(ResumableTrainData, L.LightningDataModule):
    """Serve a :class:`SyntheticTask` as ``(inputs (B, T, F) float, lengths (B,), targets)`` batches.

    Args:
        task: an :class:`AddingProblem`, :class:`CopyMemory` or :class:`Parity` (or any SyntheticTask).
        batch_size: examples per batch.
        eval_batch_size: for validation/test (default ``batch_size``).
        num_workers: DataLoader workers.

    Attributes mirror the task: ``input_size``, ``num_classes`` (None: regression), ``per_step``,
    ``baseline_loss``.
    """

    def __init__(
        self, task: SyntheticTask, batch_size: int = 32, eval_batch_size: int | None = None, num_workers: int = 0
    ) -> None:
        super().__init__()
        if not isinstance(task, SyntheticTask):
            raise ValueError(
                f"task must be a SyntheticTask (AddingProblem, CopyMemory, Parity), got {type(task).__name__}"
            )
        self.task = task
        self.batch_size = _positive_int("batch_size", batch_size)
        self.eval_batch_size = _positive_int("eval_batch_size", eval_batch_size or batch_size)
        self.num_workers = num_workers
        self.input_size = task.input_size
        self.num_classes = task.num_classes
        self.per_step = task.per_step
        self.baseline_loss = task.baseline_loss
        self.datasets: dict[str, TensorDataset] = {}

    def setup(self, stage: str | None = None) -> None:
        for split in SPLIT_INDEX:
            if split not in self.datasets:
                x, lengths, y = self.task.generate(split)
                self.datasets[split] = TensorDataset(
                    torch.from_numpy(x), torch.from_numpy(lengths), torch.from_numpy(y)
                )

    def _loader(self, split: str, batch_size: int, shuffle: bool) -> DataLoader:
        if split not in self.datasets:
            self.setup()
        # an own generator even unshuffled: iterating never draws from the global RNG (exact resume)
        generator = torch.Generator().manual_seed(self.task.seed)
        return (ResumableDataLoader if shuffle else DataLoader)(
            self.datasets[split],
            batch_size=batch_size,
            shuffle=shuffle,
            generator=generator,
            num_workers=self.num_workers,
        )

    def train_dataloader(self) -> DataLoader:
        return self.resumable(self._loader("train", self.batch_size, shuffle=True))  # position saved in checkpoints

    def val_dataloader(self) -> DataLoader:
        return self._loader("valid", self.eval_batch_size, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", self.eval_batch_size, shuffle=False)
