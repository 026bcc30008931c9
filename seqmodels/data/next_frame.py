"""Next-frame batches of piano rolls: the input is a roll without its last frame, the target the roll
without its first (Boulanger-Lewandowski et al. 2012; Chung et al. 2014).

A batch is ``(inputs, lengths, targets)``:

    inputs   FloatTensor (B, T-1, 88): frames x_1 .. x_{T_b - 1} of each roll, zero-padded
    lengths  LongTensor (B,): T_b - 1, the steps of each roll that have a target
    targets  FloatTensor (B, T-1, 88): frames x_2 .. x_{T_b}, zero-padded

where T_b is roll b's length and T the longest in the batch. A roll of one frame has nothing to predict
and is left out (counted in the log).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader

from ..utils.checks import check_positive_int
from .batching import SequenceDataset, split_loader
from .piano_roll import NUM_KEYS
from .resumable import ResumableTrainData

log = logging.getLogger(__name__)


class NextFrameCollate:
    """Collate ``[(frames (T_b, F), _), ...]`` into ``(inputs, lengths, targets)`` (see the module docstring)."""

    def __call__(self, batch: Sequence[tuple[np.ndarray, Any]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if not batch:
            raise ValueError("cannot collate an empty batch")
        rolls = [np.asarray(roll) for roll, _ in batch]
        for b, roll in enumerate(rolls):
            if roll.ndim != 2 or len(roll) < 2:
                raise ValueError(f"piano rolls must be (T >= 2, keys) arrays, got shape {roll.shape} at position {b}")
        F = rolls[0].shape[1]
        T = max(len(r) for r in rolls) - 1
        inputs = torch.zeros((len(rolls), T, F), dtype=torch.float32)  # (B, T-1, F)
        targets = torch.zeros((len(rolls), T, F), dtype=torch.float32)  # (B, T-1, F)
        for b, roll in enumerate(rolls):
            if roll.shape[1] != F:
                raise ValueError(f"piano rolls must all have {F} keys, got {roll.shape[1]} at position {b}")
            frames = torch.from_numpy(roll.astype(np.float32, copy=False))  # (T_b, F)
            inputs[b, : len(roll) - 1] = frames[:-1]  # x_1 .. x_{T_b - 1}
            targets[b, : len(roll) - 1] = frames[1:]  # x_2 .. x_{T_b}
        lengths = torch.tensor([len(r) - 1 for r in rolls], dtype=torch.long)  # (B,)
        return inputs, lengths, targets


class NextFrameDataModule(ResumableTrainData, L.LightningDataModule):
    """Next-frame batches from a piano-roll corpus (:class:`~seqmodels.data.corpora.midi.MidiFiles`,
    :class:`~seqmodels.data.corpora.midi.Nottingham`: anything with ``splits``, ``rolls(split)`` and
    ``steps_per_quarter``).

    Args:
        corpus: the corpus.
        batch_size: rolls per training batch.
        eval_batch_size: rolls per validation/test batch (default ``batch_size``).
        bucket: batch rolls of similar length together (little padding).
        pool_factor: bucketing pools of ``pool_factor * batch_size`` rolls.
        seed: seeds the training order.
        num_workers: DataLoader workers.

    Attributes: ``input_size`` (88, what the model's ``input_size: null`` is filled with),
    ``steps_per_quarter`` (the grid, for playing samples back).
    """

    def __init__(
        self,
        corpus: Any,
        batch_size: int = 32,
        eval_batch_size: int | None = None,
        bucket: bool = True,
        pool_factor: int = 50,
        seed: int = 0,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        if not callable(getattr(corpus, "rolls", None)):
            raise ValueError(f"corpus must give piano rolls (rolls(split)), got {type(corpus).__name__}")
        self.corpus = corpus
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.eval_batch_size = check_positive_int("eval_batch_size", eval_batch_size or batch_size)
        self.bucket = bool(bucket)
        self.pool_factor = check_positive_int("pool_factor", pool_factor)
        self.seed = seed
        self.num_workers = num_workers
        self.input_size = NUM_KEYS
        self.steps_per_quarter = int(getattr(corpus, "steps_per_quarter", 2))
        self.collate = NextFrameCollate()
        self.datasets: dict[str, SequenceDataset] = {}

    def setup(self, stage: str | None = None) -> None:
        for split in self.corpus.splits:
            if split in self.datasets:
                continue
            rolls = [r.frames for r in self.corpus.rolls(split)]
            kept = [r for r in rolls if len(r) >= 2]
            if len(kept) < len(rolls):
                log.warning("%s %s: %d roll(s) of one frame left out", self.corpus.name, split, len(rolls) - len(kept))
            if kept:
                self.datasets[split] = SequenceDataset(kept, [0] * len(kept))

    def _loader(self, split: str, train: bool) -> DataLoader:
        if split not in self.datasets:
            self.setup()
        return split_loader(
            self.datasets,
            split,
            getattr(self.corpus, "name", type(self.corpus).__name__),
            self.batch_size if train else self.eval_batch_size,
            self.collate,
            train=train,
            seed=self.seed,
            bucket=self.bucket,
            pool_factor=self.pool_factor,
            num_workers=self.num_workers,
            resumable=True,
        )

    def train_dataloader(self) -> DataLoader:
        return self.resumable(self._loader("train", train=True))  # position saved in checkpoints

    def val_dataloader(self) -> DataLoader:
        return self._loader("valid", train=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", train=False)
