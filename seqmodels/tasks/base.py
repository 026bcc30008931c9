"""What every seqmodels task shares: optimizer/scheduler wiring, gradient norm, checkpoint extras."""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Iterable
from typing import Any

import lightning.pytorch as pl
import torch
from torch import nn

from ..checkpoints import CHECKPOINT_KEY, checkpoint_extra, to_plain
from ..checkpoints.resume import RNG_KEY, rng_state, set_rng_state
from ..models.groups import group_names, layer_groups
from .batch_transfer import move_keeping_lengths
from .finetuning import UNFREEZE_UNITS, UnfreezeSchedule, check_layer_lr_decay, discriminative_lrs
from .running import RunningRatio
from .step_clipping import ClippedStep, clip_in_the_step, step_can_take_the_clipping

log = logging.getLogger(__name__)

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]
SchedulerFactory = Callable[[torch.optim.Optimizer], Any]

SCHEDULER_INTERVALS = ("epoch", "step")
# init arguments that are objects, never hyper-parameters (they are not plain data)
NOT_HPARAMS = ("model", "optimizer", "scheduler", "config", "encoder")


def encoder_to_dict(encoder: Any) -> dict | None:
    """``encoder`` as the plain dict a checkpoint stores: a dict, an object with ``to_dict()``, or None."""
    if encoder is None:
        return None
    if hasattr(encoder, "to_dict"):
        encoder = encoder.to_dict()
    return to_plain(encoder, "encoder")


def total_grad_norm(
    parameters: Iterable[nn.Parameter],
    max_norm: float | None,
    inspect: Callable[[torch.Tensor], None] | None = None,
) -> torch.Tensor:
    """The 2-norm of all gradients together, computed once; ``inspect(norm)`` sees it, then the gradients
    are clipped to ``max_norm`` when given (scaled by ``min(1, max_norm / (norm + 1e-6))``).

    Returns the norm *before* clipping (what ``torch.nn.utils.clip_grad_norm_`` returns).
    """
    params = [p for p in parameters if p.grad is not None]
    if not params:
        return torch.zeros(())
    get_total_norm = getattr(nn.utils, "get_total_norm", None)  # torch >= 2.6
    clip_with_norm = getattr(nn.utils, "clip_grads_with_norm_", None)
    if get_total_norm is None or clip_with_norm is None:
        norm = nn.utils.clip_grad_norm_(params, math.inf)  # the norm alone (scale 1)
        if inspect is not None:
            inspect(norm)
        if max_norm is not None:
            nn.utils.clip_grad_norm_(params, max_norm)
        return norm
    norm = get_total_norm([p.grad for p in params])
    if inspect is not None:
        inspect(norm)
    if max_norm is not None:
        clip_with_norm(params, max_norm, norm)
    return norm


def tensorboard_writer(trainer: pl.Trainer) -> Any:
    """The ``SummaryWriter`` of ``trainer``'s first TensorBoard logger, else None."""
    from lightning.pytorch.loggers import TensorBoardLogger

    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            return logger.experiment
    return None


def _call_factory(factory: Callable, name: str, argument: Any) -> Any:
    """``factory(argument)``; a ``ValueError``/``TypeError`` (torch's "Invalid learning rate: -1")
    comes back naming the config entry and the arguments that were given."""
    try:
        return factory(argument)
    except (ValueError, TypeError) as error:
        func = getattr(factory, "func", factory)
        given = ", ".join(f"{k}={v!r}" for k, v in (getattr(factory, "keywords", None) or {}).items())
        what = getattr(func, "__qualname__", repr(func)) + (f", {given}" if given else "")
        message = f"task.{name} ({what}) refused its arguments: {error}"
        if "'fused'" in str(error):  # a config mistake, reported as one (ValueError)
            raise ValueError(
                f"{message}. The task configs ask Adam for its fused step, and this optimizer has none: "
                "remove it with ~task.optimizer.fused"
            ) from error
        raise type(error)(message) from error


class SequenceTask(pl.LightningModule):
    """Base LightningModule of the seqmodels tasks.

    Args:
        model: the network (an ``nn.Module`` returning ``(output, state)``).
        optimizer: ``params -> Optimizer``, e.g. ``functools.partial(torch.optim.SGD, lr=1.0)``
            (Hydra: ``_target_: torch.optim.SGD``, ``_partial_: true``).
        scheduler: ``optimizer -> LR scheduler`` or None; e.g. a partial of
            :class:`~seqmodels.tasks.EpochDecay`, ``ReduceLROnPlateau`` or ``CosineAnnealingLR``.
        clip_grad_norm: rescale gradients whose total 2-norm exceeds this (None: no clipping).
            The norm (before clipping) is logged as ``train/grad_norm`` either way. On CPU, torch's SGD
            without momentum or weight decay scales its learning rate for the step instead of the gradients,
            and a fused Adam, AdamW or SGD divides the gradients by the clipping's factor as its kernel reads
            them: the same update, one pass less (:mod:`seqmodels.tasks.step_clipping`).
        scheduler_monitor: metric a ``ReduceLROnPlateau`` watches.
        scheduler_interval: ``"epoch"`` or ``"step"``, when the scheduler steps.
        config: the resolved training config (plain dict), stored in checkpoints so that
            :func:`seqmodels.checkpoints.load_model` can rebuild the model.
        encoder: ``TextEncoder`` (or its ``to_dict()``) stored in checkpoints; None when the
            inputs are not text. When None, it is taken from the data module's ``encoder`` at setup.
        layer_lr_decay: discriminative learning rates (ULMFiT; 2.6 there): the optimizer gets one parameter
            group per layer group of the model (:func:`~seqmodels.models.groups.layer_groups`, named, so the
            LR monitor logs ``lr-<Optimizer>/<group>``), group g of G at ``lr / layer_lr_decay^(G-1-g)``;
            the optimizer's other settings (weight decay, …) as its config says. None: one group.
        unfreeze: gradual unfreezing: ``"gradual"`` (ULMFiT: the last layer group alone in epoch 0, one more
            group from the top each epoch) or ``{group: first epoch (or step) it trains}`` (groups not
            named train from the start); None: everything trains. See :mod:`seqmodels.tasks.finetuning`.
            Parameters frozen before the task was built stay frozen.
        unfreeze_unit: ``"epoch"`` or ``"step"`` (optimizer steps): what the ``unfreeze`` numbers count.

    A scheduler config whose ``total_steps`` is None gets the trainer's ``estimated_stepping_batches``, and
    one whose ``max_lr`` is None each parameter group's rate (``OneCycleLR``): see ``configure_optimizers``.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        clip_grad_norm: float | None = None,
        scheduler_monitor: str = "val/loss",
        scheduler_interval: str = "epoch",
        config: dict | None = None,
        encoder: Any = None,
        layer_lr_decay: float | None = None,
        unfreeze: Any = None,
        unfreeze_unit: str = "epoch",
    ) -> None:
        super().__init__()
        if not isinstance(model, nn.Module):
            raise ValueError(f"model must be an nn.Module, got {type(model).__name__}")
        if not callable(optimizer):
            raise ValueError(f"optimizer must be a callable params -> Optimizer (a partial), got {optimizer!r}")
        if scheduler is not None and not callable(scheduler):
            raise ValueError(
                f"scheduler must be a callable optimizer -> scheduler (a partial) or None, got {scheduler!r}"
            )
        if clip_grad_norm is not None and (
            isinstance(clip_grad_norm, bool) or not isinstance(clip_grad_norm, (int, float)) or clip_grad_norm <= 0
        ):
            raise ValueError(f"clip_grad_norm must be a positive number or None, got {clip_grad_norm!r}")
        if scheduler_interval not in SCHEDULER_INTERVALS:
            raise ValueError(
                f"scheduler_interval must be one of {list(SCHEDULER_INTERVALS)}, got {scheduler_interval!r}"
            )
        if not isinstance(scheduler_monitor, str):
            raise ValueError(f"scheduler_monitor must be a metric name such as 'val/loss', got {scheduler_monitor!r}")
        self.model = model
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.clip_grad_norm = None if clip_grad_norm is None else float(clip_grad_norm)
        self.scheduler_monitor = scheduler_monitor
        self.scheduler_interval = scheduler_interval
        self.config = config  # converted to plain data by the setter
        self.encoder_dict = encoder_to_dict(encoder)
        self._encoder_object = encoder if encoder is not None and hasattr(encoder, "decode") else None
        # {"mean": [F], "std": [F]} when the data module standardised real-valued inputs (taken at setup),
        # stored in checkpoints so that prediction applies the same (x - mean) / std
        self.input_normalization: dict | None = None
        # called with the total gradient norm each optimizer step, before clipping and the step: the NaN
        # guard checks it there, so that no gradient is read twice
        self.grad_norm_hooks: list[Callable[[torch.Tensor], None]] = []
        self._clipped_step = ClippedStep()  # what the step carrying the clipping changed, to restore
        self._start_epoch_sums()
        self._step_logged: tuple[int, bool] | None = None  # (the loop's batch count, step_is_logged then)
        self._train_loss_on_prog_bar = True  # whether train/loss goes through Lightning's prog_bar; per fit
        self.layer_lr_decay = check_layer_lr_decay(layer_lr_decay)
        if unfreeze_unit not in UNFREEZE_UNITS:
            raise ValueError(f"unfreeze_unit must be one of {list(UNFREEZE_UNITS)}, got {unfreeze_unit!r}")
        unfreeze = to_plain(unfreeze, "unfreeze")
        self.unfreeze_schedule: UnfreezeSchedule | None = None
        if unfreeze is not None or self.layer_lr_decay is not None:
            option = "unfreeze" if unfreeze is not None else "layer_lr_decay"
            try:
                names = group_names(model)
            except (TypeError, ValueError) as error:
                raise type(error)(f"{option} needs the model's layer groups: {error}") from error
            if unfreeze is not None:
                self.unfreeze_schedule = UnfreezeSchedule(unfreeze, names, unfreeze_unit)
        self._thaw: dict[int, nn.Parameter] = {}  # the parameters the unfreeze schedule froze, by id
        self._frozen_groups: list[str] | None = None

    def __setattr__(self, name: str, value: Any) -> None:
        # Lightning names the running hook in ``_current_fx_name`` around every hook call, ~45 times a training
        # step; nn.Module's __setattr__ checks each value against parameters, modules and buffers first
        # (1.3 µs, 0.17 µs as a plain attribute). A string is none of those.
        if name == "_current_fx_name" and (value is None or isinstance(value, str)):
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    # ------------------------------------------------------------------- config
    @property
    def config(self) -> dict | None:
        """The resolved training config stored in checkpoints (plain data; settable after construction).

        ``hydra.utils.instantiate(node, config=...)`` cannot pass it (``config`` is instantiate's own
        first parameter, and the ``_target_`` nodes inside would be instantiated): build the task
        with ``instantiate(node, _partial_=True)(model=..., config=...)`` or assign ``task.config``.
        """
        return self._config

    @config.setter
    def config(self, value: Any) -> None:
        self._config = to_plain(value, "config")

    # ------------------------------------------------------------------ encoder
    @property
    def encoder(self) -> Any:
        """The ``TextEncoder`` (rebuilt from the stored dict on first use), or None."""
        if self._encoder_object is None and self.encoder_dict is not None:
            from ..checkpoints import encoder_from_dict

            self._encoder_object = encoder_from_dict(self.encoder_dict)
        return self._encoder_object

    def setup(self, stage: str) -> None:
        datamodule = getattr(self._trainer, "datamodule", None) if self._trainer is not None else None
        if self.encoder_dict is None:
            encoder = getattr(datamodule, "encoder", None)
            if encoder is not None:
                self.encoder_dict = encoder_to_dict(encoder)
                self._encoder_object = encoder if hasattr(encoder, "decode") else None
        mean, std = getattr(datamodule, "feature_mean", None), getattr(datamodule, "feature_std", None)
        if mean is not None and std is not None:
            self.input_normalization = {"mean": [float(v) for v in mean], "std": [float(v) for v in std]}

    # ---------------------------------------------------------------- optimizer
    def configure_optimizers(self) -> Any:
        """The optimizer (one named parameter group per layer group with ``layer_lr_decay``) and the scheduler.

        A scheduler partial with ``total_steps=None`` is called with the trainer's
        ``estimated_stepping_batches`` (so it must step per step), one with ``max_lr=None`` with the list of
        the parameter groups' rates (``OneCycleLR`` then keeps the discriminative ratios).
        """
        params: Any = self.parameters()
        if self.layer_lr_decay is not None:
            params = [{"params": group, "name": name} for name, group in layer_groups(self.model)]
            if sum(len(g["params"]) for g in params) != len(list(self.parameters())):
                raise ValueError("layer_lr_decay: the task has parameters outside its model's layer groups")
        optimizer = _call_factory(self.optimizer_factory, "optimizer", params)
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise ValueError(f"optimizer(params) must return a torch Optimizer, got {type(optimizer).__name__}")
        if self.layer_lr_decay is not None:
            self._set_discriminative_lrs(optimizer, [g["name"] for g in params])
        if self.scheduler_factory is None:
            return optimizer
        factory = self.scheduler_factory
        fill = self._scheduler_fill(optimizer)
        if fill:
            factory = functools.partial(factory, **fill)
        try:
            scheduler = _call_factory(factory, "scheduler", optimizer)
        except TypeError as error:
            if "unexpected keyword" not in str(error):
                raise
            raise TypeError(
                f"{error}. An experiment that sets task.scheduler itself keeps its _target_ when a "
                "task/scheduler=... option is chosen too (Hydra merges the two): name the scheduler in your own "
                "experiment instead"
            ) from error
        return {
            "optimizer": optimizer,
            "lr_scheduler": {
                "scheduler": scheduler,
                "interval": self.scheduler_interval,
                "monitor": self.scheduler_monitor,
            },
        }

    def _set_discriminative_lrs(self, optimizer: torch.optim.Optimizer, names: list[str]) -> None:
        """Group g of G at ``lr / layer_lr_decay^(G-1-g)``, ``lr`` the optimizer's own (its config's) rate."""
        if [g.get("name") for g in optimizer.param_groups] != names:
            raise ValueError(
                "layer_lr_decay: task.optimizer must build its optimizer from the parameter groups it is given "
                f"({', '.join(names)}), got groups {[g.get('name') for g in optimizer.param_groups]}"
            )
        lr = optimizer.defaults.get("lr")
        if isinstance(lr, bool) or not isinstance(lr, (int, float, torch.Tensor)):
            raise ValueError(f"layer_lr_decay needs an optimizer with a learning rate lr, got lr={lr!r}")
        assert self.layer_lr_decay is not None
        for group, rate in zip(optimizer.param_groups, discriminative_lrs(float(lr), len(names), self.layer_lr_decay)):
            group["lr"] = rate

    def _scheduler_fill(self, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
        """The scheduler arguments the config left None for the task to fill: ``total_steps``, ``max_lr``."""
        keywords = getattr(self.scheduler_factory, "keywords", None) or {}
        fill: dict[str, Any] = {}
        if "total_steps" in keywords and keywords["total_steps"] is None:
            if self.scheduler_interval != "step":
                raise ValueError(
                    "task.scheduler.total_steps is null, to be counted in optimizer steps, so the scheduler must "
                    f"step every step: set task.scheduler_interval=step (got {self.scheduler_interval!r})"
                )
            total = self.trainer.estimated_stepping_batches
            if not math.isfinite(total):
                raise ValueError(
                    "task.scheduler.total_steps is null, to be taken from the trainer, but the trainer's length is "
                    "unbounded: set trainer.max_steps (or trainer.max_epochs), or task.scheduler.total_steps"
                )
            fill["total_steps"] = max(1, int(total))
        if "max_lr" in keywords and keywords["max_lr"] is None:
            fill["max_lr"] = [float(g["lr"]) for g in optimizer.param_groups]
        return fill

    # ------------------------------------------------------------- batches
    lengths_position: int | None = None
    """Where a tuple batch holds its lengths (B,): they stay on the host when the batch moves to the accelerator
    (:meth:`transfer_batch_to_device`). Dict and named-tuple batches name theirs (``lengths``, ``*_lengths``)."""

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        """The batch on ``device`` but for its lengths, which stay on the host, where the collate made them: the
        recurrent layers read their values, which on a GPU would wait for the queued work at every layer call
        (:mod:`seqmodels.tasks.batch_transfer`)."""
        return move_keeping_lengths(batch, device, self.lengths_position)

    # ------------------------------------------------------------- unfreezing
    def on_fit_start(self) -> None:
        strategy = self.trainer.strategy if self._trainer is not None else None
        ddp_kwargs = getattr(strategy, "_ddp_kwargs", None)
        if (
            self.unfreeze_schedule is not None
            and ddp_kwargs is not None
            and not ddp_kwargs.get("find_unused_parameters")
        ):
            raise ValueError(
                "unfreeze under DDP freezes parameters after DDP has wrapped the model, which DDP allows only with "
                "trainer.strategy=ddp_find_unused_parameters_true (or ddp_spawn_find_unused_parameters_true)"
            )

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        if self.unfreeze_schedule is not None:
            self.apply_unfreezing(self.current_epoch, self.global_step)

    def apply_unfreezing(self, epoch: int, step: int) -> list[str]:
        """Freeze the layer groups the schedule keeps frozen at (``epoch``, ``step``), thaw the others; returns
        the frozen groups. Only what this schedule froze is thawed: a parameter frozen by anything else (e.g.
        frozen embeddings) stays frozen. A frozen parameter's gradient is dropped (``grad = None``), so the
        optimizer skips it entirely: no step, no moment update, no weight decay."""
        assert self.unfreeze_schedule is not None
        frozen = self.unfreeze_schedule.frozen(epoch, step)
        if frozen == self._frozen_groups:
            return frozen
        for name, params in layer_groups(self.model):
            for p in params:
                if name in frozen and p.requires_grad:
                    p.requires_grad_(False)
                    p.grad = None
                    self._thaw[id(p)] = p
                elif name not in frozen and id(p) in self._thaw:
                    self._thaw.pop(id(p)).requires_grad_(True)
        if self._frozen_groups is not None or frozen:
            training = [n for n in self.unfreeze_schedule.names if n not in frozen]
            log.info(
                "unfreeze: %s %d: training %s; frozen %s",
                self.unfreeze_schedule.unit,
                epoch if self.unfreeze_schedule.unit == "epoch" else step,
                ", ".join(training),
                ", ".join(frozen) or "nothing",
            )
        self._frozen_groups = frozen
        return frozen

    def on_fit_end(self) -> None:
        for p in self._thaw.values():  # a model trained for fewer epochs than the schedule leaves nothing frozen
            p.requires_grad_(True)
        self._thaw.clear()
        self._frozen_groups = None

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        scaler = self._amp_scaler()
        if scaler is not None and getattr(optimizer, "_step_supports_amp_scaling", False):
            # Lightning leaves a fused step's gradients scaled by the loss scale (the step would unscale them);
            # the norm and the clipping need them unscaled
            scaler.unscale_(optimizer)
        params = [p for p in self._fit_parameters() if p.grad is not None]
        in_step = (
            self.clip_grad_norm is not None
            and bool(params)
            and step_can_take_the_clipping(optimizer, params[0].grad.device)  # type: ignore[union-attr]
        )
        norm = total_grad_norm(params, None if in_step else self.clip_grad_norm, self._call_grad_norm_hooks)
        if in_step:  # the step carries the clipping (seqmodels/tasks/step_clipping.py)
            self._clipped_step = clip_in_the_step(optimizer, norm, self.clip_grad_norm)  # type: ignore[arg-type]
        if self.step_is_logged():
            self.log("train/grad_norm", norm, on_step=True, on_epoch=False)

    def _fit_parameters(self) -> list[nn.Parameter]:
        """``list(self.parameters())``, listed once a fit (walking the module tree each step cost a tagger's
        step ~0.1 ms; a fit's parameters do not change, only which of them have gradients)."""
        cached: list[nn.Parameter] | None = getattr(self, "_parameters_of_the_fit", None)
        if cached is None:
            cached = list(self.parameters())
            self._parameters_of_the_fit: list[nn.Parameter] | None = cached
        return cached

    def _amp_scaler(self) -> Any:
        """The mixed-precision ``GradScaler`` that takes the optimizer's steps (16-mixed), else None."""
        plugin = getattr(self._trainer, "precision_plugin", None)
        return getattr(plugin, "scaler", None)

    def optimizer_step(self, *args: Any, **kwargs: Any) -> None:
        """Lightning's step; what a clipping carried by the step changed for it is restored after it, whatever
        happens."""
        try:
            super().optimizer_step(*args, **kwargs)
        finally:
            self._clipped_step.restore()

    def step_is_logged(self) -> bool:
        """Whether this training step hands its step-level scalars (``train/loss``, ``train/grad_norm``) to
        ``self.log``: on the steps the loggers write (every ``trainer.log_every_n_steps``, Lightning's own rule)
        and on every step of the first ``log_every_n_steps`` (short runs, the progress bar's first figures).

        A ``self.log`` call costs Lightning's bookkeeping whether or not a logger writes the value, and on a
        small model's step of a few milliseconds the two calls a step showed (docs/PERFORMANCE.md).
        """
        trainer = self._trainer
        if trainer is None:
            return True
        # asked twice a step (the loss, the gradient norm); answered once per batch the loop has drawn
        batch = trainer.fit_loop.epoch_loop.batch_progress.total.ready
        cached = self._step_logged
        if cached is not None and cached[0] == batch:
            return cached[1]
        should = getattr(getattr(trainer, "_logger_connector", None), "should_update_logs", None)
        logged = should is None or bool(should) or trainer.global_step < getattr(trainer, "log_every_n_steps", 0)
        self._step_logged = (batch, logged)
        return logged

    def _call_grad_norm_hooks(self, norm: torch.Tensor) -> None:
        for hook in self.grad_norm_hooks:
            hook(norm)

    # --------------------------------------------------------------- checkpoint
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint[CHECKPOINT_KEY] = checkpoint_extra(self, self.config, self.encoder_dict, self.input_normalization)
        checkpoint[RNG_KEY] = rng_state()  # a resumed run's dropout continues the same random sequence

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        extra = checkpoint.get(CHECKPOINT_KEY)
        if isinstance(extra, dict):
            self.config = extra.get("config", self.config)
            if extra.get("encoder") is not None:
                self.encoder_dict = extra["encoder"]
                self._encoder_object = None
            if extra.get("input_normalization") is not None:
                self.input_normalization = extra["input_normalization"]
        self._resume_rng = checkpoint.get(RNG_KEY)

    def on_train_start(self) -> None:
        self._start_epoch_sums()  # nothing left over from an interrupted fit
        self._parameters_of_the_fit = None  # listed again for this fit
        self._step_logged = None
        # Lightning turns every prog_bar step figure into a float after every step, shown or not: only a bar that
        # shows train/loss that way gets it marked so (not no bar, a disabled one as on ranks > 0, or one that
        # reads it itself at its redraw rate, seqmodels.callbacks.RichProgressBar's ``step_figures``)
        bar = self.trainer.progress_bar_callback
        self._train_loss_on_prog_bar = (
            bar is not None
            and bool(getattr(bar, "is_enabled", True))
            and "train/loss" not in getattr(bar, "step_figures", ())
        )
        # after the sanity check and the training loader's first iter(), as in the run that saved it
        rng, self._resume_rng = getattr(self, "_resume_rng", None), None
        if rng is not None:
            set_rng_state(rng)

    # ------------------------------------------------------------------ logging
    def log_train_loss(self, loss: torch.Tensor, batch_size: int | torch.Tensor) -> None:
        """``train/loss`` on the logged steps (this rank's; :meth:`step_is_logged`) and ``train/loss_epoch``, the
        mean of every step of the epoch weighted by ``batch_size`` (an int, or a 0-d tensor on the loss's device:
        summed there, never read back until the epoch's end) over all ranks, logged at the epoch's end.

        The epoch mean is summed here rather than handed to ``self.log`` each step (an epoch-level,
        batch-weighted, synced ``self.log`` runs Lightning's bookkeeping every step, which a small model's
        training speed shows; the measurement is in ``docs/PERFORMANCE.md``).

        ``train/loss`` is marked ``prog_bar`` only for a fit whose progress bar is on and shows it through
        Lightning's ``prog_bar`` (:meth:`on_train_start`): Lightning turns every ``prog_bar`` step figure into a
        float with ``.item()`` after every step, the last logged value again on the steps in between, which on
        a GPU waits for the step's queued work each step. With no bar there is nothing to show, and
        ``seqmodels.callbacks.RichProgressBar`` reads it itself when it redraws (``step_figures``).
        """
        if self.step_is_logged():
            self.log("train/loss", loss, on_step=True, on_epoch=False, prog_bar=self._train_loss_on_prog_bar)
        self._epoch_loss.add_weighted(loss, batch_size)

    def on_train_epoch_end(self) -> None:
        loss, hits = self._epoch_loss.sums(), self._epoch_hits.sums()
        self._start_epoch_sums()
        if loss is not None:
            self._log_epoch_mean("train/loss_epoch", *loss)
        if hits is not None:
            self._log_epoch_mean("train/acc", *hits)

    def _start_epoch_sums(self) -> None:
        self._epoch_loss = RunningRatio(torch.float32)  # train/loss_epoch: Σ loss · weight, Σ weight
        self._epoch_hits = RunningRatio(torch.long)  # train/acc: Σ hits, Σ scored targets

    def _log_epoch_mean(self, name: str, total: torch.Tensor, weight: torch.Tensor) -> None:
        """Log ``total / weight`` (Σ value · weight and Σ weight of the epoch's steps) as this rank's epoch
        mean, weighted by Σ weight.

        One weighted value per rank: Lightning combines the ranks' (mean × count) and counts when it computes
        its epoch metrics, in the same order on every rank (a collective of our own here could meet rank 0's
        progress bar syncing other metrics first, and hang).
        """
        count = int(weight.item())
        mean = total.float() / max(count, 1)
        self.log(name, mean, on_step=False, on_epoch=True, batch_size=count, sync_dist=True)

    def count_train_accuracy(self, logits: torch.Tensor, targets: torch.Tensor, counted: int | torch.Tensor) -> None:
        """Add a training step's hits to the epoch's ``train/acc``, logged at the epoch's end.

        Args:
            logits: (..., C), the step's scores.
            targets: (...), the true class ids; ignored positions hold a negative id (``-100``), which no
                argmax equals, so they never count as hits.
            counted: how many targets are scored (the non-ignored ones): an int, or a 0-d tensor on the
                logits' device, summed there and never read back until the epoch's end.

        ``train/acc`` = Σ hits / Σ counted over the epoch's steps (and, through the batch-size-weighted
        ``sync_dist`` mean, over all ranks). Two running counts on the device, rather than a torchmetrics
        metric's update (four state tensors, checks on the inputs; docs/PERFORMANCE.md).
        """
        self._epoch_hits.add((logits.detach().argmax(-1) == targets).sum(), counted)

    def tensorboard(self) -> Any:
        """The ``SummaryWriter`` of the first TensorBoard logger on global rank 0, else None."""
        if self._trainer is None or not self.trainer.is_global_zero:
            return None
        return tensorboard_writer(self.trainer)
