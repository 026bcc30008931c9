"""Clipping carried by the step's learning rate (seqmodels/tasks/step_clipping.py): with torch's plain SGD the
trained parameters equal those of a hand-written loop that clips the gradients (torch.nn.utils.clip_grad_norm_);
with anything else the gradients are clipped; the rates are restored after every step, even one that fails."""

from __future__ import annotations

import functools
import importlib
import warnings

import lightning.pytorch as pl
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from seqmodels.cells import LSTMCell
from seqmodels.models import RNNLanguageModel
from seqmodels.tasks import LanguageModelingTask
from seqmodels.tasks.step_clipping import step_can_take_the_clipping

warnings.filterwarnings("ignore", ".*does not have many workers.*")
warnings.filterwarnings("ignore", ".*number of training batches.*")

V, CLIP, LR = 30, 0.05, 2.0


def batches(count=4, rows=4, steps=6):
    generator = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, V, (count, rows, steps + 1), generator=generator)
    return [(row[:, :-1], row[:, 1:]) for row in tokens]


def tiny_lm():
    torch.manual_seed(0)
    return RNNLanguageModel(V, LSTMCell, embedding_dim=12, hidden_size=12, num_layers=2, dropout=0.0)


def fit(task, data):
    trainer = pl.Trainer(
        accelerator="cpu", devices=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, num_sanity_val_steps=0, max_steps=len(data), limit_val_batches=0,
    )  # fmt: skip
    loader = DataLoader(data, batch_size=None)
    trainer.fit(task, train_dataloaders=loader)
    return trainer


def hand_loop(model, data, lr):
    """Forward, cross-entropy, backward, torch's clip_grad_norm_, p -= lr * p.grad: torch's own functions."""
    state = None
    for inputs, targets in data:
        logits, state = model(inputs, state)
        state = [tuple(s.detach() for s in layer) if isinstance(layer, tuple) else layer.detach() for layer in state]
        loss = nn.functional.cross_entropy(logits.reshape(-1, V), targets.reshape(-1))
        model.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(p.grad, alpha=-lr)
    return model


@pytest.mark.parametrize("fused", [False, True], ids=["foreach", "fused"])
def test_plain_sgd_trains_as_a_loop_that_clips_the_gradients(fused):
    data = batches()
    task = LanguageModelingTask(tiny_lm(), functools.partial(torch.optim.SGD, lr=LR, fused=fused), clip_grad_norm=CLIP)
    trainer = fit(task, data)
    want = hand_loop(tiny_lm(), data, LR)
    for (name, got), expected in zip(task.model.named_parameters(), want.parameters()):
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6, msg=name)
    assert trainer.optimizers[0].param_groups[0]["lr"] == LR  # restored after each step
    # the gradients themselves were left unclipped (the step carried the clipping): the documented difference
    norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in task.parameters()]))
    assert norm > 2 * CLIP


@pytest.mark.parametrize(
    "optimizer",
    [
        functools.partial(torch.optim.SGD, lr=LR, momentum=0.9),
        functools.partial(torch.optim.SGD, lr=LR, weight_decay=1e-3),
        functools.partial(torch.optim.Adam, lr=0.01),
    ],
    ids=["momentum", "weight-decay", "adam"],
)
def test_other_optimizers_get_their_gradients_clipped(optimizer):
    task = LanguageModelingTask(tiny_lm(), optimizer, clip_grad_norm=CLIP)
    fit(task, batches(2))
    norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in task.parameters()]))
    assert norm == pytest.approx(CLIP, rel=1e-4)


def test_which_steps_can_take_the_clipping():
    param = nn.Parameter(torch.zeros(3))
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert step_can_take_the_clipping(torch.optim.SGD([param], lr=0.1), cpu)
    assert step_can_take_the_clipping(torch.optim.SGD([param], lr=1), cpu)  # an int rate scales as well
    assert not step_can_take_the_clipping(torch.optim.SGD([param], lr=0.1), cuda)  # reading c would wait for it
    assert not step_can_take_the_clipping(torch.optim.SGD([param], lr=torch.tensor(0.1)), cpu)

    class MySGD(torch.optim.SGD):  # its step may do anything with the gradients
        pass

    assert not step_can_take_the_clipping(MySGD([param], lr=0.1), cpu)
    groups = [{"params": [param]}, {"params": [nn.Parameter(torch.zeros(2))], "momentum": 0.5}]
    assert not step_can_take_the_clipping(torch.optim.SGD(groups, lr=0.1), cpu)  # one group with momentum


def test_a_failing_step_still_gets_its_learning_rate_back(monkeypatch):
    def failing_update(*args, **kwargs):
        raise RuntimeError("the update failed")

    monkeypatch.setattr(importlib.import_module("torch.optim.sgd"), "sgd", failing_update)  # after the scaling
    task = LanguageModelingTask(tiny_lm(), functools.partial(torch.optim.SGD, lr=LR), clip_grad_norm=CLIP)
    seen = []
    task.configure_optimizers = lambda: seen.append(torch.optim.SGD(task.parameters(), lr=LR)) or seen[-1]
    with pytest.raises(RuntimeError, match="the update failed"):
        fit(task, batches(1))
    assert seen[0].param_groups[0]["lr"] == LR
