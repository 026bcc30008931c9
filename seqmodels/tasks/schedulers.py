"""Learning-rate schedules not in torch.

The others the configs use are torch's own: ``ReduceLROnPlateau(factor=0.25, patience=0)``
(pytorch/examples word_language_model divides the rate by 4 when validation loss stops
improving) and ``CosineAnnealingLR``.
"""

from __future__ import annotations

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
