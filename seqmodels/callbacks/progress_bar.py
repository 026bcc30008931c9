"""Lightning's rich progress bar, reading the logged figures at most as often as it redraws them.

Lightning's ``RichProgressBar`` collects the progress-bar figures (``train/loss``, ``val/loss``, ...) after
every training step: it asks the trainer for them and turns each tensor into a float with ``.item()``.
That cost 0.12 ms of a tagger's 27 ms CPU step (docs/PERFORMANCE.md), and on a GPU every ``.item()`` waits
for the queued work: one host-device synchronisation per step. The bar only redraws ``refresh_rate``
times a second, so between two redraws only the last reading is ever shown; here the figures are read
during training at most once per redraw interval (``1 / refresh_rate`` seconds), and the step counter is
advanced every step as before. At the end of an epoch and of validation they are read as in Lightning.

Lightning's logging itself also turns every step figure logged with ``prog_bar=True`` into a float after every
step (``.item()``, the last logged value again on the steps in between). The figures named in ``step_figures``
are therefore read by the bar from the trainer's ``callback_metrics``, as tensors, and turned into floats only
when the bar redraws. The tasks (``seqmodels.tasks``' ``on_train_start``) log ``train/loss``, their one step
figure on the bar, without ``prog_bar`` when the bar names it there; another name given here is read by the bar
too, but Lightning still reads it every step if a module logs it with ``prog_bar=True``. With the default, a
training step on a GPU makes no host-device synchronisation for the bar except at a redraw. A subclass that
overrides :meth:`get_metrics` calls it (``super()``) to keep these figures.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import RichProgressBar as LightningRichProgressBar


class RichProgressBar(LightningRichProgressBar):
    """``lightning.pytorch.callbacks.RichProgressBar`` (same arguments), with the training steps' figures read
    at most ``refresh_rate`` times a second instead of after every step (see the module docstring).

    Args:
        step_figures: step figures the bar shows by reading them itself from ``trainer.callback_metrics``
            (scalar tensors) when it redraws, rather than through Lightning's ``prog_bar``.
    """

    clock = staticmethod(time.monotonic)  # seconds; replaceable per bar (tests)

    def __init__(self, *args: Any, step_figures: Sequence[str] = ("train/loss",), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if isinstance(step_figures, str):
            raise TypeError(f"step_figures must be a list of figure names, got the string {step_figures!r}")
        self.step_figures = tuple(step_figures)
        self._figures_read_at = -float("inf")  # clock() at the last reading during training
        self._figures_due = True

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        now = self.clock()
        self._figures_due = now - self._figures_read_at >= 1.0 / max(self.refresh_rate, 1e-9)
        if self._figures_due:
            self._figures_read_at = now
        try:
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        finally:
            self._figures_due = True  # every other caller (epoch and validation ends) reads them

    def _update_metrics(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._figures_due:
            super()._update_metrics(trainer, pl_module)

    def get_metrics(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, Any]:
        """Lightning's figures, and each of ``step_figures`` the task has logged, turned into a float here."""
        figures = super().get_metrics(trainer, pl_module)
        logged = trainer.callback_metrics
        for name in self.step_figures:
            value = logged.get(name)
            if isinstance(value, torch.Tensor) and value.numel() == 1:
                figures[name] = value.item()
        return figures
