"""Learning-rate schedules not in torch.

The others the configs use are torch's own: ``ReduceLROnPlateau(factor=0.25, patience=0)``
(pytorch/examples word_language_model divides the rate by 4 when validation loss stops
improving), ``CosineAnnealingLR`` and ``OneCycleLR`` (``task/scheduler=one_cycle``).
"""

from __future__ import annotations

import math

from torch import Tensor
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler


class EpochDecay(LRScheduler):
    """Zaremba et al. (2014): constant rate for ``max_epoch_before_decay`` epochs, then geometric decay.

    During epoch ``e`` (0-based), ``lr = base_lr * decay ** max(0, e + 1 - max_epoch_before_decay)``.
    The "small" PTB setup is ``decay=0.5, max_epoch_before_decay=4`` (13 epochs), "medium"
    ``decay=0.8, max_epoch_before_decay=6`` (39 epochs); the paper's base rate 1 is on the loss summed
    over the BPTT steps, so on a per-token mean loss it is ``lr = bptt`` (20 small, 35 medium). Step it once per epoch.

    Args:
        optimizer: the wrapped optimizer.
        decay: factor per epoch after the constant phase, in (0, 1].
        max_epoch_before_decay: epochs at the base rate (the paper's ``max_epoch``), >= 0.
    """

    def __init__(
        self, optimizer: Optimizer, decay: float = 0.5, max_epoch_before_decay: int = 4, last_epoch: int = -1
    ) -> None:
        if isinstance(decay, bool) or not isinstance(decay, (int, float)) or not 0 < decay <= 1:
            raise ValueError(f"decay must be a number in (0, 1], got {decay!r}")
        if (
            isinstance(max_epoch_before_decay, bool)
            or not isinstance(max_epoch_before_decay, int)
            or max_epoch_before_decay < 0
        ):
            raise ValueError(f"max_epoch_before_decay must be an integer >= 0, got {max_epoch_before_decay!r}")
        self.decay = float(decay)
        self.max_epoch_before_decay = max_epoch_before_decay
        super().__init__(optimizer, last_epoch)

    def factor(self, epoch: int) -> float:
        """The multiplier of the base rate during epoch ``epoch``."""
        return self.decay ** max(0, epoch + 1 - self.max_epoch_before_decay)

    def get_lr(self) -> list[float | Tensor]:
        return [base * self.factor(self.last_epoch) for base in self.base_lrs]

    def _get_closed_form_lr(self) -> list[float | Tensor]:
        return self.get_lr()


class SlantedTriangular(LRScheduler):
    """ULMFiT's slanted triangular learning rates (Howard & Ruder 2018, eq. 3), stepped every optimizer step.

    With T = ``total_steps`` and ``cut = floor(T * cut_frac)``, at step t (0-based)::

        p   = t / cut                                        if t < cut
            = 1 - (t - cut) / (cut * (1 / cut_frac - 1))      otherwise
        lr_t = lr_max * (1 + p * (ratio - 1)) / ratio

    a linear rise from ``lr_max / ratio`` at t = 0 to ``lr_max`` at t = cut, then a linear fall back to
    ``lr_max / ratio`` at t = T (exactly when ``T * cut_frac`` is an integer). ``lr_max`` is each parameter
    group's own initial rate, so discriminative rates keep their ratios. ``p`` is kept in [0, 1]: past T the
    rate stays at ``lr_max / ratio``. When ``cut = 0`` (T < 1 / cut_frac) there is no rise: ``p = 1 - t / T``.

    Args:
        optimizer: the wrapped optimizer.
        total_steps: T, optimizer steps of the whole run (the task fills ``None`` from the trainer's
            ``estimated_stepping_batches``).
        cut_frac: share of T spent rising, in (0, 1); ULMFiT uses 0.1.
        ratio: ``lr_max / lr_min``, >= 1; ULMFiT uses 32.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        total_steps: int,
        cut_frac: float = 0.1,
        ratio: float = 32.0,
        last_epoch: int = -1,
    ) -> None:
        if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps < 1:
            raise ValueError(f"total_steps must be a positive integer (optimizer steps), got {total_steps!r}")
        if isinstance(cut_frac, bool) or not isinstance(cut_frac, (int, float)) or not 0 < cut_frac < 1:
            raise ValueError(f"cut_frac must be a number in (0, 1), got {cut_frac!r}")
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not ratio >= 1:
            raise ValueError(f"ratio must be a number >= 1, got {ratio!r}")
        self.total_steps = total_steps
        self.cut_frac = float(cut_frac)
        self.ratio = float(ratio)
        self.cut = math.floor(total_steps * self.cut_frac)
        super().__init__(optimizer, last_epoch)

    def factor(self, step: int) -> float:
        """``lr_t / lr_max`` at optimizer step ``step``."""
        if self.cut == 0:
            p = 1.0 - step / self.total_steps
        elif step < self.cut:
            p = step / self.cut
        else:
            p = 1.0 - (step - self.cut) / (self.cut * (1.0 / self.cut_frac - 1.0))
        p = min(1.0, max(0.0, p))
        return (1.0 + p * (self.ratio - 1.0)) / self.ratio

    def get_lr(self) -> list[float | Tensor]:
        return [base * self.factor(self.last_epoch) for base in self.base_lrs]

    def _get_closed_form_lr(self) -> list[float | Tensor]:
        return self.get_lr()
