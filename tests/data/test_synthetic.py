"""Synthetic long-range tasks: structure of every example, determinism, baselines, the DataModule."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from seqmodels.data import AddingProblem, CopyMemory, Parity, SyntheticDataModule


def test_adding_problem_structure_and_baseline() -> None:
    task = AddingProblem(seq_len=50, num_train=20_000, num_val=10, num_test=10, seed=0)
    x, lengths, y = task.generate("train")
    assert x.shape == (20_000, 50, 2) and x.dtype == np.float32 and y.shape == (20_000,) and y.dtype == np.float32
    assert (lengths == 50).all()
    values, markers = x[..., 0], x[..., 1]
    assert ((values >= 0) & (values < 1)).all()
    assert (markers.sum(1) == 2).all()
    assert (markers[:, :25].sum(1) == 1).all() and (markers[:, 25:].sum(1) == 1).all()  # one marker per half
    np.testing.assert_allclose(y, (values * markers).sum(1), rtol=1e-6)
    assert np.mean((y - 1.0) ** 2) == pytest.approx(task.baseline_loss, abs=0.005)  # predicting 1: MSE 1/6
    assert task.baseline_loss == pytest.approx(0.167, abs=1e-3)


def test_copy_memory_structure_and_baseline() -> None:
    T = 30
    task = CopyMemory(seq_len=T, num_train=64, num_val=8, num_test=8, seed=1)
    x, lengths, y = task.generate("train")
    assert x.shape == (64, T + 20, 10) and y.shape == (64, T + 20) and y.dtype == np.int64
    ids = x.argmax(-1)
    assert (x.sum(-1) == 1).all()  # one-hot
    assert ((ids[:, :10] >= 1) & (ids[:, :10] <= 8)).all()
    assert (ids[:, 10 : T + 9] == 0).all() and (ids[:, T + 9] == 9).all() and (ids[:, T + 10 :] == 0).all()
    assert (y[:, : T + 10] == 0).all() and (y[:, T + 10 :] == ids[:, :10]).all()
    assert task.num_classes == 9 and task.per_step
    assert task.baseline_loss == pytest.approx(10 * math.log(8) / (T + 20))


def test_parity() -> None:
    task = Parity(seq_len=17, num_train=100, num_val=5, num_test=5, seed=2)
    x, _, y = task.generate("valid")
    assert x.shape == (5, 17, 1) and set(np.unique(x)) <= {0.0, 1.0}
    np.testing.assert_array_equal(y, x[..., 0].sum(1).astype(int) % 2)
    assert task.baseline_loss == pytest.approx(math.log(2))


@pytest.mark.parametrize("cls", [AddingProblem, CopyMemory, Parity])
def test_generation_is_deterministic_per_seed_and_split(cls) -> None:
    a = cls(seq_len=12, num_train=20, num_val=20, num_test=20, seed=5)
    b = cls(seq_len=12, num_train=20, num_val=20, num_test=20, seed=5)
    c = cls(seq_len=12, num_train=20, num_val=20, num_test=20, seed=6)
    for split in ("train", "valid", "test"):
        for u, v in zip(a.generate(split), b.generate(split)):
            np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a.generate("train")[0], c.generate("train")[0])
    assert not np.array_equal(a.generate("train")[0], a.generate("valid")[0])


def test_synthetic_datamodule_batches() -> None:
    dm = SyntheticDataModule(AddingProblem(seq_len=10, num_train=50, num_val=20, num_test=20), batch_size=16)
    dm.setup()
    x, lengths, y = next(iter(dm.train_dataloader()))
    assert x.shape == (16, 10, 2) and x.dtype == torch.float32 and lengths.tolist() == [10] * 16 and y.shape == (16,)
    assert dm.input_size == 2 and dm.num_classes is None and not dm.per_step
    assert sum(len(b[0]) for b in dm.train_dataloader()) == 50
    first = [b[2] for b in SyntheticDataModule(AddingProblem(10, 50, 20, 20), 16).train_dataloader()]
    assert all(torch.equal(u, v) for u, v in zip(first, [b[2] for b in dm.train_dataloader()]))  # seeded shuffle
    cm = SyntheticDataModule(CopyMemory(seq_len=5, num_train=8, num_val=4, num_test=4), batch_size=4)
    x, lengths, y = next(iter(cm.val_dataloader()))
    assert x.shape == (4, 25, 10) and y.shape == (4, 25) and y.dtype == torch.long and cm.num_classes == 9
    with pytest.raises(ValueError, match="task must be a SyntheticTask"):
        SyntheticDataModule("adding")
    with pytest.raises(ValueError, match="seq_len"):
        AddingProblem(seq_len=1)
