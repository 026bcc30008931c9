"""Next-frame task: the Bernoulli NLL against torch's binary_cross_entropy_with_logits one step at a time,
padding excluded; the frame-level accuracy of Bay et al. (2009) against a hand count."""

from __future__ import annotations

import functools

import pytest
import torch
from torch.nn import functional as F

from seqmodels.cells import GRUCell
from seqmodels.models.frame_model import RNNFrameModel
from seqmodels.tasks.next_frame import NextFrameTask, frame_nll


def oracle_nll(logits, targets, lengths) -> torch.Tensor:
    """Σ over the valid steps of Σ over the keys of -log Bernoulli, divided by the number of valid steps."""
    total = sum(
        F.binary_cross_entropy_with_logits(logits[b, t], targets[b, t], reduction="sum")
        for b in range(logits.shape[0])
        for t in range(int(lengths[b]))
    )
    return total / lengths.sum()


def batch(seed: int = 0, lengths=(5, 2, 3), keys: int = 88):
    g = torch.Generator().manual_seed(seed)
    B, T = len(lengths), max(lengths)
    logits = torch.randn(B, T, keys, generator=g, dtype=torch.float64) * 3
    targets = (torch.rand(B, T, keys, generator=g) < 0.1).double()
    return logits, targets, torch.tensor(lengths)


def test_nll_sums_over_keys_and_averages_over_valid_steps():
    logits, targets, lengths = batch()
    total, steps = frame_nll(logits, targets, lengths)
    assert int(steps) == 10
    torch.testing.assert_close(total / steps, oracle_nll(logits, targets, lengths), rtol=1e-12, atol=1e-12)


def test_padding_changes_nothing():
    logits, targets, lengths = batch(1)
    padded_logits, padded_targets = logits.clone(), targets.clone()
    padded_logits[1, 2:] = 50.0  # past length 2: confident and wrong
    padded_targets[1, 2:] = 0.0
    padded_targets[2, 3:] = 1.0
    before = frame_nll(logits, targets, lengths)
    after = frame_nll(padded_logits, padded_targets, lengths)
    torch.testing.assert_close(after, before, rtol=0, atol=0)


def make_task(hidden: int = 6) -> NextFrameTask:
    torch.manual_seed(0)
    model = RNNFrameModel(88, GRUCell, hidden).double()
    return NextFrameTask(model, functools.partial(torch.optim.SGD, lr=0.1))


def test_the_training_loss_is_the_nll_per_step_of_the_model():
    task = make_task()
    _, targets, lengths = batch(2)
    inputs = torch.roll(targets, 1, dims=1)
    logged = {}
    task.log_train_loss = lambda loss, n: logged.update(loss=loss, n=n)  # type: ignore[method-assign]
    loss = task.training_step((inputs, lengths, targets), 0)
    logits = task.model(inputs, lengths)[0]
    torch.testing.assert_close(loss, oracle_nll(logits, targets, lengths), rtol=1e-12, atol=1e-12)
    assert int(logged["n"]) == 10


def test_frame_accuracy_is_pooled_over_frames_against_a_hand_count():
    """Four keys. Batch 1, one roll of three steps: frame 1 predicts {0, 1} for {1, 2} (TP 1, FP 1, FN 1);
    frame 2 predicts nothing for nothing (adds nothing); frame 3 predicts {3} for {3} (TP 1). A padded fourth
    step predicts and hits key 0: not counted. Batch 2: one step predicting {0, 1, 2} for {0} (TP 1, FP 2).
    Pooled: TP 3, FP 3, FN 1, ACC = 3 / (3 + 3 + 1) = 3 / 7 (the mean of per-frame ratios would be (1/3 + 1 + 1/3) / 3)."""
    on, off = 4.0, -4.0
    task = NextFrameTask(RNNFrameModel(4, GRUCell, 3), functools.partial(torch.optim.SGD, lr=0.1))
    logits1 = torch.tensor([[[on, on, off, off], [off] * 4, [off, off, off, on], [on, off, off, off]]])
    targets1 = torch.tensor([[[0, 1, 1, 0], [0] * 4, [0, 0, 0, 1], [1, 0, 0, 0]]], dtype=torch.float32)
    logits2 = torch.tensor([[[on, on, on, off]]])
    targets2 = torch.tensor([[[1, 0, 0, 0]]], dtype=torch.float32)
    given = iter([logits1, logits2])
    task.forward = lambda inputs, lengths=None: next(given)  # type: ignore[method-assign]
    logged: dict[str, float] = {}
    task.log = lambda name, value, **kwargs: logged.__setitem__(name, float(value))  # type: ignore[method-assign]
    task.validation_step((targets1, torch.tensor([3]), targets1), 0)
    task.validation_step((targets2, torch.tensor([1]), targets2), 1)
    task._log_epoch("val", task.val_sums)
    assert logged["val/acc"] == pytest.approx(3 / 7)
    expected_nll = (
        oracle_nll(logits1, targets1, torch.tensor([3])) * 3 + oracle_nll(logits2, targets2, torch.tensor([1]))
    ) / 4
    assert logged["val/nll"] == pytest.approx(float(expected_nll), rel=1e-6)
    assert logged["val/loss"] == logged["val/nll"]


def test_mismatched_shapes_are_refused():
    task = make_task()
    with pytest.raises(ValueError, match="differ in shape"):
        task.training_step((torch.zeros(1, 3, 88).double(), torch.tensor([3]), torch.zeros(1, 2, 88).double()), 0)
