"""An epoch's ratio of two running sums, kept on the device: ``train/loss_epoch`` and ``train/acc``.

Both are Σ numerator / Σ denominator over a training epoch's steps: the loss weighted by its step's tokens or
examples (Σ loss_s · w_s / Σ w_s), the accuracy as hits over scored targets (Σ hits_s / Σ n_s). Summing them in
two 0-d tensors, one in-place add into each a step, never reads the device from the host until the epoch's end
(a GPU step does not wait for it), and costs a step two small operations: 6 µs on CPU against 17 µs for the
same sums kept as a two-element tensor updated element by element (``docs/PERFORMANCE.md``).
"""

from __future__ import annotations

import torch
from torch import Tensor


class RunningRatio:
    """Σ numerator and Σ denominator of an epoch's steps, as 0-d tensors of ``dtype`` on the first step's device.

    ``dtype``: ``torch.float32`` for a weighted mean of floats, ``torch.long`` for counts (exact at any size).
    """

    def __init__(self, dtype: torch.dtype) -> None:
        self.dtype = dtype
        self.numerator: Tensor | None = None
        self.denominator: Tensor | None = None

    def _sums_on(self, device: torch.device) -> tuple[Tensor, Tensor]:
        if self.numerator is None or self.denominator is None or self.numerator.device != device:
            self.numerator = torch.zeros((), dtype=self.dtype, device=device)
            self.denominator = torch.zeros((), dtype=self.dtype, device=device)
        return self.numerator, self.denominator

    def add(self, numerator: Tensor, denominator: int | Tensor) -> None:
        """Σ numerator += ``numerator`` (a 0-d tensor, e.g. a step's hits); Σ denominator += ``denominator``."""
        total, count = self._sums_on(numerator.device)
        total.add_(numerator.detach())
        count.add_(_on_host_as_number(denominator, count.device))

    def add_weighted(self, value: Tensor, weight: int | Tensor) -> None:
        """Σ numerator += ``value · weight`` (a 0-d tensor, e.g. a step's mean loss, times an int or a 0-d tensor
        on any device); Σ denominator += ``weight``."""
        total, count = self._sums_on(value.device)
        factor = _on_host_as_number(weight, value.device)
        if isinstance(factor, Tensor):
            total.addcmul_(value.detach(), factor)
        else:
            total.add_(value.detach(), alpha=factor)
        count.add_(factor)

    def sums(self) -> tuple[Tensor, Tensor] | None:
        """(Σ numerator, Σ denominator), or None before the first step."""
        if self.numerator is None or self.denominator is None:
            return None
        return self.numerator, self.denominator


def _on_host_as_number(x: int | float | Tensor, device: torch.device) -> int | float | Tensor:
    """A 0-d CPU tensor bound for sums on another device as a Python number (e.g. a count made from lengths kept
    on the host): reading it costs nothing, where copying it up would wait for the device. Anything else as is."""
    if isinstance(x, Tensor) and x.device.type == "cpu" and device.type != "cpu":
        return x.item()
    return x
