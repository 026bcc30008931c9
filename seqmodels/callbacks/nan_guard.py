"""Stop training at the first NaN/Inf loss or gradient, before it reaches the weights.

A diverging run otherwise goes on for hours writing NaN weights into ``last.ckpt``. The guard checks

* the training loss and the gradients together, once per optimizer step, before the step: one finite
  check of two scalars, the loss and the total gradient norm (a gradient with a NaN or Inf entry has a
  non-finite 2-norm). A :class:`~seqmodels.tasks.SequenceTask` hands the guard the norm its clipping
  computes anyway (``grad_norm_hooks``), so the check reads no gradient itself; for any other
  LightningModule the guard computes the norm (one fused pass over the gradients);
* every weight, before a checkpoint is written (``on_save_checkpoint``): a step with finite gradients
  can still overflow (``w - lr * g`` with a huge ``lr``). Such weights make the next step's loss
  non-finite, and the guard then names the weights, not the loss,

and raises :class:`NonFiniteError` naming the step (the number of optimizer steps completed before
the failing one, i.e. ``trainer.global_step`` during its forward pass), the epoch and batch, the
offending value (and parameter), the last checkpoint and the usual remedies. No checkpoint is
written for the failing step, so the last one on disk holds the last good weights (for the loss and
gradient checks the weights in memory are still those too: the error comes before
``optimizer.step()``). Only a failure scans the parameters one by one, to name the bad one.

Cost: one host read of a two-element tensor per optimizer step (on CUDA, the one synchronisation the
guarantee needs: the step must not run on non-finite gradients); nothing per weight.
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


def _total_norm(pl_module: pl.LightningModule) -> torch.Tensor | None:
    """The 2-norm of all gradients together (None when no parameter has one)."""
    grads = [p.grad for p in pl_module.parameters() if p.grad is not None]
    if not grads:
        return None
    get_total_norm = getattr(torch.nn.utils, "get_total_norm", None)  # torch >= 2.6: fused per device
    if get_total_norm is not None:
        return get_total_norm(grads)
    return torch.linalg.vector_norm(torch.stack([g.detach().norm().to(grads[0].device) for g in grads]))


class NaNGuard(Callback):
    """Raise :class:`NonFiniteError` when the training loss, a gradient or a weight is not finite.

    Args:
        check_loss: check the training loss (before each optimizer step).
        check_gradients: check the gradients (before each optimizer step) and the weights (before each
            checkpoint is written).
    """

    def __init__(self, check_loss: bool = True, check_gradients: bool = True) -> None:
        self.check_loss = bool(check_loss)
        self.check_gradients = bool(check_gradients)
        self._losses: list[torch.Tensor] = []  # this optimizer step's losses (several with accumulation)
        self._hooked: list | None = None  # the module's grad_norm_hooks while the guard is in them

    # ---------------------------------------------------------------------------------- wiring
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        hooks = getattr(pl_module, "grad_norm_hooks", None)
        if isinstance(hooks, list) and self._check_norm not in hooks:
            hooks.append(self._check_norm)
            self._hooked = hooks
        self._fit_trainer = trainer
        self._losses = []

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._unhook()

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        self._unhook()

    def _unhook(self) -> None:
        if self._hooked is not None and self._check_norm in self._hooked:
            self._hooked.remove(self._check_norm)
        self._hooked = None

    # ---------------------------------------------------------------------------------- checks
    def on_before_backward(self, trainer: pl.Trainer, pl_module: pl.LightningModule, loss: torch.Tensor) -> None:
        if self.check_loss:
            self._losses.append(loss.detach())

    def on_before_optimizer_step(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: torch.optim.Optimizer
    ) -> None:
        if self._hooked is not None:
            return  # the task calls _check_norm with the norm it computes for clipping, right after this hook
        mixed = getattr(trainer.precision_plugin, "scaler", None) is not None
        # 16-mixed: the GradScaler skips steps with Inf gradients by design
        norm = _total_norm(pl_module) if self.check_gradients and not mixed else None
        self._check(trainer, pl_module, norm)

    def _check_norm(self, norm: torch.Tensor) -> None:
        """Called by the task with the total gradient norm (before clipping), before the optimizer step."""
        trainer = self._fit_trainer
        mixed = getattr(trainer.precision_plugin, "scaler", None) is not None
        self._check(trainer, trainer.lightning_module, None if mixed or not self.check_gradients else norm)

    def _check(self, trainer: pl.Trainer, pl_module: pl.LightningModule, norm: torch.Tensor | None) -> None:
        losses, self._losses = self._losses, []
        scalars = [x.float().reshape(-1) for x in losses] + ([norm.float().reshape(1)] if norm is not None else [])
        if not scalars or bool(torch.isfinite(torch.cat([s.to(scalars[0].device) for s in scalars])).all()):
            return
        step = trainer.global_step
        bad_loss = next((x for x in losses if not bool(torch.isfinite(x).all())), None)
        if bad_loss is not None:
            self._check_weights(trainer, pl_module, step - 1)  # weights an earlier step overflowed make it so
            raise NonFiniteError(self._message(trainer, f"the training loss is {_format(_value(bad_loss))}", step))
        for name, param in pl_module.named_parameters():
            grad = param.grad
            if grad is None or bool(torch.isfinite(grad).all()):
                continue
            bad = grad[~torch.isfinite(grad)]
            nans, infs = int(torch.isnan(bad).sum()), int(torch.isinf(bad).sum())
            what = (
                f"the gradient of {name} {tuple(param.shape)} has {nans} NaN and {infs} Inf entries "
                f"(e.g. {_format(float(bad.flatten()[0]))}) while the loss was finite"
            )
            raise NonFiniteError(self._message(trainer, what, step))
        # every entry finite, only their sum of squares overflowed: clipping scales them to 0, the step is harmless

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict) -> None:
        if self.check_gradients:
            self._check_weights(trainer, pl_module, trainer.global_step - 1)

    def _check_weights(self, trainer: pl.Trainer, pl_module: pl.LightningModule, step: int) -> None:
        for name, param in pl_module.named_parameters():
            if not bool(torch.isfinite(param.detach()).all()):
                what = f"the optimizer step made the weights {name} {tuple(param.shape)} non-finite (the gradients were finite)"
                raise NonFiniteError(self._message(trainer, what, step, updated=True))

    @staticmethod
    def _message(trainer: pl.Trainer, what: str, step: int, updated: bool = False) -> str:
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
