"""Clipping carried by the optimizer's step (seqmodels/tasks/step_clipping.py). With torch's plain SGD the step's
learning rate carries it; with a fused Adam, AdamW or SGD the step's grad_scale. Either way the trained
parameters equal those of a hand-written loop that clips the gradients (torch.nn.utils.clip_grad_norm_); with
anything else the gradients are clipped; what the step changed is restored after every step, even one that
fails; under a GradScaler the true gradients are clipped."""

from __future__ import annotations

import contextlib
import functools
import importlib
import warnings

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.plugins.precision import MixedPrecision
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


def hand_loop(model, data, step):
    """Forward, cross-entropy, backward, torch's clip_grad_norm_, then ``step()``: torch's own functions."""
    state = None
    for inputs, targets in data:
        logits, state = model(inputs, state)
        state = [tuple(s.detach() for s in layer) if isinstance(layer, tuple) else layer.detach() for layer in state]
        loss = nn.functional.cross_entropy(logits.reshape(-1, V), targets.reshape(-1))
        model.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        step()
    return model


def sgd_by_hand(model, lr):
    """``p -= lr * p.grad`` for every parameter (no optimizer object)."""

    @torch.no_grad()
    def step():
        for p in model.parameters():
            p.add_(p.grad, alpha=-lr)

    return step


@pytest.mark.parametrize("fused", [False, True], ids=["foreach", "fused"])
def test_plain_sgd_trains_as_a_loop_that_clips_the_gradients(fused):
    data = batches()
    task = LanguageModelingTask(tiny_lm(), functools.partial(torch.optim.SGD, lr=LR, fused=fused), clip_grad_norm=CLIP)
    trainer = fit(task, data)
    model = tiny_lm()
    want = hand_loop(model, data, sgd_by_hand(model, LR))
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


# ------------------------------------------------------------------------------ fused steps: grad_scale
FUSED = {
    "adam": functools.partial(torch.optim.Adam, lr=0.01, fused=True),
    "adamw": functools.partial(torch.optim.AdamW, lr=0.01, weight_decay=0.1, fused=True),
    "sgd-momentum": functools.partial(torch.optim.SGD, lr=LR, momentum=0.9, fused=True),
}


@pytest.mark.parametrize("name", list(FUSED))
def test_a_fused_step_trains_as_a_loop_that_clips_the_gradients(name):
    data = batches()
    task = LanguageModelingTask(tiny_lm(), FUSED[name], clip_grad_norm=CLIP)
    trainer = fit(task, data)
    model = tiny_lm()
    want = hand_loop(model, data, FUSED[name](model.parameters()).step)
    # Adam divides by the root of its second moment, so the float32 rounding of a near-zero gradient entry
    # moves its weight by up to ~1e-5 (clipping the gradients by hand does the same); SGD keeps it linear
    atol = 1e-6 if name.startswith("sgd") else 2e-5
    for (param_name, got), expected in zip(task.model.named_parameters(), want.parameters()):
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=atol, msg=param_name)
    # the kernel wrote the clipped gradients back, as torch's clipping leaves them
    norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in task.parameters()]))
    assert norm == pytest.approx(CLIP, rel=1e-4)
    assert getattr(trainer.optimizers[0], "grad_scale", None) is None  # taken away after each step


def test_which_fused_steps_can_take_the_clipping():
    cpu = torch.device("cpu")
    param = nn.Parameter(torch.zeros(3))
    assert step_can_take_the_clipping(torch.optim.Adam([param], lr=0.1, fused=True), cpu)
    assert step_can_take_the_clipping(torch.optim.AdamW([param], lr=0.1, fused=True), cpu)
    assert not step_can_take_the_clipping(torch.optim.Adam([param], lr=0.1), cpu)  # not fused: no grad_scale
    assert not step_can_take_the_clipping(torch.optim.Adam([param], lr=0.1, fused=True), torch.device("cuda"))
    double = nn.Parameter(torch.zeros(3, dtype=torch.float64))  # the kernel's grad_scale is float32
    assert not step_can_take_the_clipping(torch.optim.Adam([double], lr=0.1, fused=True), cpu)
    scaled = torch.optim.Adam([param], lr=0.1, fused=True)
    scaled.grad_scale = torch.ones(())  # someone else (a GradScaler) scales this step
    assert not step_can_take_the_clipping(scaled, cpu)
    groups = [{"params": [param]}, {"params": [nn.Parameter(torch.zeros(2))], "fused": False}]
    assert not step_can_take_the_clipping(torch.optim.Adam(groups, lr=0.1, fused=True), cpu)


def test_a_float64_model_with_a_fused_step_gets_its_gradients_clipped_exactly():
    data = [(x, y) for x, y in batches(2)]
    task = LanguageModelingTask(tiny_lm().double(), FUSED["adam"], clip_grad_norm=CLIP)
    fit(task, data)
    model = tiny_lm().double()
    want = hand_loop(model, data, FUSED["adam"](model.parameters()).step)
    for got, expected in zip(task.model.parameters(), want.parameters()):
        torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-14)


def test_a_failing_fused_step_still_loses_its_grad_scale(monkeypatch):
    def failing_update(*args, **kwargs):
        raise RuntimeError("the update failed")

    monkeypatch.setattr(importlib.import_module("torch.optim.adam"), "_fused_adam", failing_update)
    task = LanguageModelingTask(tiny_lm(), FUSED["adam"], clip_grad_norm=CLIP)
    seen = []
    task.configure_optimizers = lambda: seen.append(FUSED["adam"](task.parameters())) or seen[-1]
    with pytest.raises(RuntimeError, match="the update failed"):
        fit(task, batches(1))
    assert getattr(seen[0], "grad_scale", None) is None


@pytest.mark.parametrize("name", ["adam", "sgd-momentum"])
def test_under_a_grad_scaler_the_true_gradients_are_clipped(name):
    """Under 16-mixed a GradScaler steps the optimizer. Lightning leaves a fused step's gradients scaled by the
    loss scale (the step would unscale them), so the task unscales them before it clips (then the scaler's
    step keeps the grad_scale that carries the clipping)."""

    class ScalerWithoutAutocast(MixedPrecision):  # the scaler on CPU, a float32 forward
        def forward_context(self):
            return contextlib.nullcontext()

    data = batches(3)
    task = LanguageModelingTask(tiny_lm(), FUSED[name], clip_grad_norm=CLIP)
    plugin = ScalerWithoutAutocast("16-mixed", "cpu", scaler=torch.amp.GradScaler("cpu", init_scale=1024.0))
    trainer = pl.Trainer(
        accelerator="cpu", devices=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, num_sanity_val_steps=0, max_steps=len(data), limit_val_batches=0,
        plugins=[plugin],
    )  # fmt: skip
    trainer.fit(task, train_dataloaders=DataLoader(data, batch_size=None))
    norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in task.parameters()]))
    assert norm == pytest.approx(CLIP, rel=1e-4)  # not CLIP / 1024: the clipped gradients were the true ones
    model = tiny_lm()
    want = hand_loop(model, data, FUSED[name](model.parameters()).step)
    atol = 1e-6 if name.startswith("sgd") else 2e-5
    for got, expected in zip(task.model.parameters(), want.parameters()):
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=atol)
