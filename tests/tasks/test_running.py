"""The epoch's running sums behind train/loss_epoch and train/acc, against sums taken in Python."""

from __future__ import annotations

import pytest
import torch

from seqmodels.tasks.running import RunningRatio


def test_nothing_summed_before_the_first_step():
    assert RunningRatio(torch.float32).sums() is None


@pytest.mark.parametrize("as_tensor", [False, True])
def test_weighted_sums_of_float_losses(as_tensor):
    losses, weights = [2.5, 0.75, 1.125, 3.0], [5, 3, 7, 1]
    ratio = RunningRatio(torch.float32)
    for loss, weight in zip(losses, weights):
        value = torch.tensor(loss, dtype=torch.float64, requires_grad=True) * 1.0  # a step's loss, with history
        ratio.add_weighted(value, torch.tensor(weight) if as_tensor else weight)
    total, count = ratio.sums()
    assert total.dtype == count.dtype == torch.float32
    assert not total.requires_grad and total.grad_fn is None  # no graph kept from step to step
    assert total.item() == sum(loss * weight for loss, weight in zip(losses, weights))
    assert count.item() == sum(weights)


def test_counts_stay_exact_past_float32():
    ratio = RunningRatio(torch.long)
    big = 2**24 + 1  # not a float32
    ratio.add(torch.tensor(big), torch.tensor(big + 2))
    ratio.add(torch.tensor(3), 4)
    hits, counted = ratio.sums()
    assert hits.dtype == torch.long and (hits.item(), counted.item()) == (big + 3, big + 6)
