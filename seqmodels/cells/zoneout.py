"""Zoneout (Krueger et al. 2016): units randomly keep their previous value instead of updating."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ..utils.checks import check_probability
from ..utils.state import map_state
from .base import RecurrentCell, State
from .wrapper import CellFactory, CellWrapper


def _flat(state: State) -> list[Tensor]:
    if isinstance(state, Tensor):
        return [state]
    return [t for part in state for t in _flat(part)]


def _unflat(template: State, tensors: list[Tensor]) -> State:
    it = iter(tensors)
    return map_state(lambda _: next(it), template)


class Zoneout(CellWrapper):
    """Zoneout around any cell: each state unit keeps its old value with probability z.

    Krueger et al., "Zoneout: Regularizing RNNs by Randomly Preserving Hidden Activations" (ICLR 2017)::

        training:  s_t = d_t ⊙ s_{t-1} + (1 - d_t) ⊙ cell(x_t, s_{t-1}),   d_t ~ Bernoulli(z)
        eval:      s_t = z ⊙ s_{t-1} + (1 - z) ⊙ cell(x_t, s_{t-1})          (the expectation)

    applied to every tensor of the state (LSTM: ``h`` with ``zoneout[0]``, ``c`` with ``zoneout[1]``).
    The step's output is the zoned-out state tensor it was (``h``), so the layer above sees what
    the recurrence carries. As in the paper and in haste, eval uses the expectation of the mask,
    which is deterministic; set a probability to 0 for a plain cell on that state tensor.

    Args:
        cell: the wrapped cell or its factory (see :class:`~seqmodels.cells.wrapper.CellWrapper`).
        input_size, hidden_size: for the factory.
        zoneout: z, one probability for every state tensor, or one per state tensor
            (LSTM ``[z_h, z_c]``; Krueger et al. use ``z_c = 0.5, z_h = 0.05`` on PTB characters).
        same_mask_over_time: draw d once per sequence (B, H) instead of at every step. The paper
            draws a new mask each step; with one mask per sequence the zoned units stay at their
            initial state for the whole sequence.

    Shapes: as the wrapped cell; masks (B, H) per state tensor.
    """

    def __init__(
        self,
        cell: CellFactory | RecurrentCell,
        input_size: int | None = None,
        hidden_size: int | None = None,
        zoneout: float | Sequence[float] = 0.1,
        same_mask_over_time: bool = False,
    ) -> None:
        super().__init__(cell, input_size, hidden_size)
        parts = len(_flat(self.cell.init_state(1)))
        probs = (
            [zoneout] * parts if isinstance(zoneout, (int, float)) else list(zoneout)
        )  # check_probability rejects a bool
        if len(probs) != parts:
            raise ValueError(f"zoneout must be one probability or {parts} (one per state tensor), got {zoneout!r}")
        self.zoneout = [check_probability("zoneout", p) for p in probs]
        if not isinstance(same_mask_over_time, bool):
            raise ValueError(f"same_mask_over_time must be True or False, got {same_mask_over_time!r}")
        self.same_mask_over_time = same_mask_over_time
        self._masks: list[Tensor] | None = None

    def sample_masks(self, batch_size: int, device: torch.device, dtype: torch.dtype) -> None:
        if self.same_mask_over_time:
            self._masks = self._draw(batch_size, device, dtype)

    def _draw(self, batch_size: int, device: torch.device, dtype: torch.dtype) -> list[Tensor]:
        """d per state tensor (B, H), True (keep the old value) with probability z."""
        return [
            torch.empty(batch_size, s, device=device, dtype=dtype).bernoulli_(z).bool()
            for z, s in zip(self.zoneout, self._sizes())
        ]

    def _sizes(self) -> list[int]:
        sizes = self.cell.state_size
        return [sizes] if isinstance(sizes, int) else list(sizes)

    def step(self, x_proj: Tensor, state: State) -> tuple[Tensor, State]:
        h, new_state = self.cell.step(x_proj, state)
        old, new = _flat(state), _flat(new_state)
        if self.training:
            if self.same_mask_over_time:
                self.ensure_masks(x_proj.shape[0], x_proj)
                masks = self._masks
                assert masks is not None  # drawn by ensure_masks -> sample_masks
            else:
                masks = self._draw(x_proj.shape[0], x_proj.device, x_proj.dtype)
            zoned = [torch.where(d, o, n) for o, n, d in zip(old, new, masks)]  # d ? old : new
        else:
            zoned = [n + z * (o - n) for o, n, z in zip(old, new, self.zoneout)]  # z·old + (1-z)·new
        out = next((zoned[k] for k, n in enumerate(new) if n is h), h)
        return out, _unflat(new_state, zoned)

    def extra_repr(self) -> str:
        return f"zoneout={self.zoneout}" + (", same_mask_over_time=True" if self.same_mask_over_time else "")
