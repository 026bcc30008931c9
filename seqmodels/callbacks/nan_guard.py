"""Stop training at the first NaN/Inf loss or gradient, before it reaches the weights.

A diverging run otherwise goes on for hours writing NaN weights into ``last.ckpt``. The guard checks

* the training loss, in ``on_before_backward`` (before the backward pass),
* every gradient, in ``on_before_optimizer_step`` (after backward and before clipping and the
  optimizer step; callbacks run before the task's own hook, which clips), and
* every weight, in ``on_train_batch_end``: a step with finite gradients can still overflow
  (``w - lr * g`` with a huge ``lr``); Lightning runs checkpoint callbacks after all others, so
  this check comes before the batch's checkpoint is written,

and raises :class:`NonFiniteError` naming the step (the number of optimizer steps completed before
the failing one, i.e. ``trainer.global_step`` during its forward pass), the epoch and batch, the
offending value (and parameter), the last checkpoint and the usual remedies. No checkpoint is
written for the failing step, so the last one on disk holds the last good weights (for the loss and
gradient checks the weights in memory are still those too: the error comes before
``optimizer.step()``).
"""

from __future__ import annotations

import math

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint


class NonFiniteError(FloatingPointError):
    """The loss or a gradient became NaN or ±Inf during training."""


def _value(x: torch.Tensor) -> float:
    return float(x.detach().float().cpu()) if x.numel() == 1 else float("nan")


def _format(value: float) -> str:
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else f"{value:.6g}"


class NaNGuard(Callback):
    """Raise :class:`NonFiniteError` when the training loss or a gradient is not finite.

    Args:
        check_loss: check the loss before backward.
        check_gradients: check every parameter's gradient before the optimizer step.
    """

    def __init__(self, check_loss: bool = True, check_gradients: bool = True) -> None:
        self.check_loss = bool(check_loss)
        self.check_gradients = bool(check_gradients)

    def on_before_backward(self, trainer: pl.Trainer, pl_module: pl.LightningModule, loss: torch.Tensor) -> None:
        if self.check_loss and not bool(torch.isfinite(loss.detach()).all()):
            what = f"the training loss is {_format(_value(loss))}"
            raise NonFiniteError(self._message(trainer, what, trainer.global_step, updated=False))

    def on_before_optimizer_step(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: torch.optim.Optimizer
    ) -> None:
        if not self.check_gradients or getattr(trainer.precision_plugin, "scaler", None) is not None:
            return  # 16-mixed: the GradScaler skips steps with Inf gradients by design
        for name, param in pl_module.named_parameters():
            grad = param.grad
            if grad is None or bool(torch.isfinite(grad).all()):
                continue
            bad = grad[~torch.isfinite(grad)]
            nans, infs = int(torch.isnan(bad).sum()), int(torch.isinf(bad).sum())
            example = _format(float(bad.flatten()[0]))
            what = (
                f"the gradient of {name} {tuple(param.shape)} has {nans} NaN and {infs} Inf entries "
                f"(e.g. {example}) while the loss was finite"
            )
            raise NonFiniteError(self._message(trainer, what, trainer.global_step, updated=False))

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch, batch_idx) -> None:
        if not self.check_gradients:
            return
        for name, param in pl_module.named_parameters():
            if not bool(torch.isfinite(param.detach()).all()):
                what = f"the optimizer step made the weights {name} {tuple(param.shape)} non-finite (the gradients were finite)"
                raise NonFiniteError(self._message(trainer, what, trainer.global_step - 1, updated=True))

    @staticmethod
    def _message(trainer: pl.Trainer, what: str, step: int, updated: bool) -> str:
        batch = trainer.fit_loop.epoch_loop.batch_progress.current.ready - 1
        checkpoint = next((c for c in trainer.checkpoint_callbacks if isinstance(c, ModelCheckpoint)), None)
        saved = (checkpoint.last_model_path or checkpoint.best_model_path) if checkpoint is not None else ""
        lr = ", ".join(f"{g['lr']:.3g}" for opt in trainer.optimizers for g in opt.param_groups if "lr" in g)
        where = f"step {step} (epoch {trainer.current_epoch}, batch {batch})"
        memory = "The weights in memory are no longer usable" if updated else "The weights were not updated"
        kept = (
            f"{memory}; the last good checkpoint is {saved} (resume with ckpt_path=...)."
            if saved
            else f"{memory}; no checkpoint had been written yet."
        )
        return (
            f"non-finite value at {where}: {what}. Training stopped. {kept} Usual remedies: lower the learning rate "
            f"(task.optimizer.lr, now {lr or 'unknown'}), clip gradients (task.clip_grad_norm=1.0), use a smaller "
            "init_range or a warm-up, and check the data for extreme values."
        )
