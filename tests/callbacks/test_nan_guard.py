"""The NaN guard on a seqmodels task: one finite check per step, the culprit named, no bad checkpoint.

The guard reads the total gradient norm that the task's clipping computes (``grad_norm_hooks``); these tests
use a real :class:`~seqmodels.tasks.base.SequenceTask` with clipping on, where a check after clipping would
see the clipped (NaN) gradients instead of the Inf the loss produced. The plain-LightningModule path is in
``tests/checkpoints/test_faults.py``.
"""

from __future__ import annotations

import functools

import lightning.pytorch as pl
import pytest
import torch
from torch import nn

from seqmodels.callbacks import NaNGuard, NonFiniteError
from seqmodels.tasks.base import SequenceTask


class Weights(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(3))
        self.v = nn.Parameter(torch.ones(2))


class ScriptedTask(SequenceTask):
    """loss = Σ f_step(w) + Σ v, with f_step chosen per optimizer step by ``script`` (a dict step -> kind)."""

    def __init__(self, script: dict[int, str], lr: float = 0.1, clip: float | None = 1.0) -> None:
        super().__init__(Weights(), functools.partial(torch.optim.SGD, lr=lr), clip_grad_norm=clip)
        self.script = script

    def validation_step(self, batch, batch_idx):
        pass

    def training_step(self, batch, batch_idx):
        w, v = self.model.w, self.model.v
        kind = self.script.get(self.global_step, "fine")
        if kind == "inf_gradient":  # d sqrt(w) / dw at w = 0 is +inf, the loss stays finite
            return torch.sqrt(w - w.detach()).sum() + v.sum() + batch.sum() * 0
        if kind == "nan_loss":
            return (w * float("nan")).sum() + v.sum() + batch.sum() * 0
        if kind == "overflow":  # a finite loss and gradient (10 per weight) that SGD with lr 1e38 overflows
            self.trainer.optimizers[0].param_groups[0]["lr"] = 1e38
            return (10 * w).sum() + v.sum() + batch.sum() * 0
        return (w * w).sum() + v.sum() + batch.sum() * 0


def fit(
    task: pl.LightningModule, tmp_path, steps: int = 4, callbacks=(), val_loader=None, guard=None, **trainer_args
) -> pl.Trainer:
    trainer = pl.Trainer(
        accelerator="cpu",
        max_steps=steps,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        callbacks=[guard or NaNGuard(), *callbacks],
        enable_checkpointing=bool(callbacks),
        **trainer_args,
    )
    trainer.fit(task, torch.utils.data.DataLoader(torch.zeros(16, 1), batch_size=2), val_loader)
    return trainer


def test_an_infinite_gradient_is_named_as_it_came_out_of_backward_before_clipping(tmp_path):
    task = ScriptedTask({2: "inf_gradient"})
    with pytest.raises(NonFiniteError, match=r"step 2 .*the gradient of model\.w \(3,\) has 0 NaN and 3 Inf entries"):
        fit(task, tmp_path)
    # the two finite steps ran (w = 1 - 0.1·2w, then again, clipped to norm 1 each), the failing one did not
    assert torch.isfinite(task.model.w).all() and not torch.equal(task.model.w.detach(), torch.ones(3))
    before = task.model.w.detach().clone()
    with pytest.raises(NonFiniteError):
        fit(ScriptedTask({0: "inf_gradient"}), tmp_path)
    assert torch.equal(before, task.model.w.detach())


def test_a_nan_loss_on_the_first_of_accumulated_batches_is_caught(tmp_path):
    """With two batches per optimizer step, the NaN loss of the first one stops the step too."""

    class FirstHalfNaN(ScriptedTask):
        def training_step(self, batch, batch_idx):
            loss = super().training_step(batch, batch_idx)
            return loss * float("nan") if batch_idx == 2 else loss

    task = FirstHalfNaN({}, clip=None)
    with pytest.raises(NonFiniteError, match=r"step 1 .*the training loss is nan"):
        fit(task, tmp_path, accumulate_grad_batches=2)


def test_weights_an_overflowing_step_made_non_finite_are_named_at_the_next_step(tmp_path):
    task = ScriptedTask({1: "overflow"}, clip=None)
    match = r"step 1 .*the optimizer step made the weights model\.w \(3,\) non-finite.*no longer usable"
    with pytest.raises(NonFiniteError, match=match):
        fit(task, tmp_path)


def test_no_checkpoint_of_overflowed_weights_is_written(tmp_path):
    task = ScriptedTask({1: "overflow"}, clip=None)
    folder = tmp_path / "checkpoints"
    every_step = pl.callbacks.ModelCheckpoint(folder, every_n_train_steps=1, save_top_k=-1, monitor=None)
    with pytest.raises(NonFiniteError, match=r"step 1 .*made the weights model\.w \(3,\) non-finite"):
        fit(task, tmp_path, callbacks=[every_step])
    assert sorted(p.name for p in folder.iterdir()) == ["epoch=0-step=1.ckpt"]  # after step 0 only


def test_no_checkpoint_of_overflowed_weights_is_written_after_validation(tmp_path):
    task = ScriptedTask({1: "overflow"}, clip=None)
    folder = tmp_path / "checkpoints"
    after_validation = pl.callbacks.ModelCheckpoint(folder, save_top_k=-1, monitor=None)
    loader = torch.utils.data.DataLoader(torch.zeros(16, 1), batch_size=2)
    with pytest.raises(NonFiniteError, match=r"step 1 .*made the weights model\.w \(3,\) non-finite"):
        fit(task, tmp_path, callbacks=[after_validation], val_check_interval=2, val_loader=loader)
    assert not folder.exists() or not any(folder.iterdir())  # validation after step 1: its checkpoint is refused


def test_one_finite_check_per_step_whatever_the_number_of_parameters(tmp_path, monkeypatch):
    calls = []
    real = torch.isfinite
    monkeypatch.setattr(torch, "isfinite", lambda x: calls.append(x.numel()) or real(x))
    fit(ScriptedTask({}), tmp_path, steps=5)
    assert calls == [2] * 5  # the loss and the gradient norm, together


def test_the_guard_leaves_the_task_as_it_found_it(tmp_path):
    task, guard = ScriptedTask({}), NaNGuard()
    for _ in range(2):  # fitted twice: registered once each time, and gone after
        fit(task, tmp_path, steps=2, guard=guard)
        assert task.grad_norm_hooks == []
    failing = ScriptedTask({0: "nan_loss"})
    with pytest.raises(NonFiniteError):
        fit(failing, tmp_path)
    assert failing.grad_norm_hooks == []
