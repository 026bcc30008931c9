"""A Lightning callback that shows vanishing/exploding gradients through time, gate saturation and clipping.

Every ``every_n_steps`` optimizer steps, one training batch runs under a
:class:`~seqmodels.callbacks.probe.RecurrentProbe` and the callback logs, for each recurrent layer:

* ``gradient_flow/dL_dh`` — image: ‖∂L/∂h_t‖ against the step t, one line per layer, log scale;
* ``gradient_flow/<layer>`` — histogram of the T per-step norms;
* ``gradient_flow/<layer>/first_over_last`` — scalar ‖∂L/∂h_0‖ / ‖∂L/∂h_{T-1}‖: far below 1 when
  the gradient vanishes on its way back through time (a vanilla RNN on the adding problem);
* ``gates/<layer>/<gate>/mean`` and ``gates/<layer>/<gate>/saturated`` — scalars: mean gate value and
  the fraction of gate values below ``saturation`` or above ``1 - saturation`` (Karpathy et al. 2015
  call these left- and right-saturated), over steps, sequences and units;
* ``gates/mean_over_time`` — image: mean value of each gate against t, one panel per layer.

and, over the steps since its previous log, how often gradient-norm clipping fired and by how much:

* ``clipping/fraction`` — fraction of optimizer steps whose gradient norm exceeded the threshold;
* ``clipping/mean_ratio`` and ``clipping/max_ratio`` — norm / threshold over the clipped steps
  (the factor the gradients were divided by).

The clipping threshold is the task's ``clip_grad_norm`` (seqmodels tasks) or the trainer's
``gradient_clip_val``; with neither, nothing is logged about clipping. Images and histograms go to
the TensorBoard logger; scalars to every logger. Only global rank 0 probes.
"""

from __future__ import annotations

import math
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from matplotlib.figure import Figure
from torch import Tensor

from ..utils.checks import check_positive_int
from .probe import RecurrentProbe


def gradient_flow_figure(norms: dict[str, Tensor], title: str = "‖∂L/∂h_t‖ through time") -> Figure:
    """Line plot of per-step gradient norms, one line per layer, log-scaled y."""
    fig = Figure(figsize=(6.4, 4.0))
    ax = fig.add_subplot()
    for name, values in norms.items():
        ax.plot(range(len(values)), values.clamp_min(1e-30).numpy(), label=name)
    ax.set_yscale("log")
    ax.set_xlabel("time step t (processing order)")
    ax.set_ylabel("‖∂L/∂h_t‖ (mean over sequences)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def gates_figure(stats: dict[str, dict[str, dict[str, Tensor]]]) -> Figure:
    """Mean gate value against t, one panel per layer, one line per gate."""
    fig = Figure(figsize=(6.4, 2.2 * len(stats) + 0.6))
    for index, (layer, gates) in enumerate(stats.items()):
        ax = fig.add_subplot(len(stats), 1, index + 1)
        for gate, values in gates.items():
            ax.plot(range(len(values["mean"])), values["mean"].numpy(), label=gate)
        ax.set_ylim(0.0, 1.0)
        ax.set_ylabel(layer)
        ax.legend(fontsize="small", loc="upper right")
    fig.axes[-1].set_xlabel("time step t")
    fig.suptitle("mean gate value over time")
    fig.tight_layout()
    return fig


class GradientFlowMonitor(pl.Callback):
    """Logs ∂L/∂h_t per layer and time step, gate statistics and clipping (see the module docstring).

    Args:
        every_n_steps: probe the batch that starts optimizer step 0, N, 2N, ... (the probed batch
            runs the generic step loop: slower, same numbers).
        saturation: a gate value below this or above ``1 - saturation`` counts as saturated.
        gates: collect gate statistics (one extra gate computation per step of the probed batch).
    """

    def __init__(self, every_n_steps: int = 50, saturation: float = 0.1, gates: bool = True) -> None:
        super().__init__()
        self.every_n_steps = check_positive_int("every_n_steps", every_n_steps)
        if isinstance(saturation, bool) or not isinstance(saturation, (int, float)) or not 0.0 < saturation < 0.5:
            raise ValueError(f"saturation must be a number in (0, 0.5), got {saturation!r}")
        self.saturation = float(saturation)
        self.gates = bool(gates)
        self._probe: RecurrentProbe | None = None
        self._clip_steps = 0
        self._clip_ratios: list[float] = []

    # ------------------------------------------------------------------ probing
    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if trainer.is_global_zero and trainer.global_step % self.every_n_steps == 0 and self._probe is None:
            self._probe = RecurrentProbe(pl_module, gates=self.gates).__enter__()

    def on_after_backward(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        probe = self._finish_probe()
        if probe is None:
            return
        step = trainer.global_step
        norms = probe.gradient_norms()
        scalars: dict[str, float] = {}
        for name, values in norms.items():
            if len(values) > 1 and values[-1] > 0:
                scalars[f"gradient_flow/{name}/first_over_last"] = float(values[0] / values[-1])
        stats = probe.gate_statistics(self.saturation) if self.gates else {}
        for layer, gates in stats.items():
            for gate, gate_stats in gates.items():
                scalars[f"gates/{layer}/{gate}/mean"] = float(gate_stats["mean"].mean())
                scalars[f"gates/{layer}/{gate}/saturated"] = float(gate_stats["saturated"].mean())
        self._log_scalars(trainer, scalars, step)
        writer = _tensorboard(trainer)
        if writer is None:
            return
        if norms:
            for name, values in norms.items():
                writer.add_histogram(f"gradient_flow/{name}", values, step)
            writer.add_figure("gradient_flow/dL_dh", gradient_flow_figure(norms), step)
        if stats:
            writer.add_figure("gates/mean_over_time", gates_figure(stats), step)

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self._finish_probe()  # a batch that skipped backward must not leave the probes in
        if trainer.is_global_zero and self._clip_steps and trainer.global_step % self.every_n_steps == 0:
            ratios = self._clip_ratios
            scalars = {"clipping/fraction": len(ratios) / self._clip_steps}
            if ratios:
                scalars["clipping/mean_ratio"] = sum(ratios) / len(ratios)
                scalars["clipping/max_ratio"] = max(ratios)
            self._log_scalars(trainer, scalars, trainer.global_step)
            self._clip_steps, self._clip_ratios = 0, []

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._finish_probe()

    def _finish_probe(self) -> RecurrentProbe | None:
        probe, self._probe = self._probe, None
        if probe is not None:
            probe.__exit__(None, None, None)
        return probe

    # ----------------------------------------------------------------- clipping
    def on_before_optimizer_step(self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: Any) -> None:
        """Runs before the task's own hook clips: the gradients here are unclipped."""
        threshold = getattr(pl_module, "clip_grad_norm", None) or trainer.gradient_clip_val
        if not threshold or not trainer.is_global_zero:
            return
        grads = [p.grad for p in pl_module.parameters() if p.grad is not None]
        if not grads:
            return
        norm = float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])))
        self._clip_steps += 1
        if math.isfinite(norm) and norm > float(threshold):
            self._clip_ratios.append(norm / float(threshold))

    # ------------------------------------------------------------------ logging
    @staticmethod
    def _log_scalars(trainer: pl.Trainer, scalars: dict[str, float], step: int) -> None:
        if not scalars:
            return
        for logger in trainer.loggers:
            logger.log_metrics(scalars, step=step)


def _tensorboard(trainer: pl.Trainer) -> Any:
    """The SummaryWriter of the first TensorBoard logger, or None."""
    return next((lg.experiment for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)), None)
