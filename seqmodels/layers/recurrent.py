"""Run one cell over time, with optional per-sequence lengths."""

from __future__ import annotations

import torch
from torch import Tensor

from ..cells.base import RecurrentCell, State
from ..utils.checks import step_mask
from ..utils.state import map_state
from .backends import check_backend, fused_sequence
from .sequence import SequenceLayer


class Recurrent(SequenceLayer):
    """Unrolls ``cell`` over a sequence.

    ``forward(x, state=None, lengths=None) -> (output, final_state)``

    Args:
        cell: any :class:`~seqmodels.cells.RecurrentCell`.
        batch_first: inputs/outputs are (B, T, ·) instead of (T, B, ·).
        backend: ``"auto"``, ``"custom"`` or ``"torch"`` (see :mod:`seqmodels.layers.backends`).

    Shapes: x (T, B, I); output (T, B, H); states as the cell's.
    With ``lengths`` (B,), steps t >= lengths[b] leave the state unchanged and give zero
    output, so ``final_state`` is each sequence's state at its last real step.
    """

    def __init__(self, cell: RecurrentCell, batch_first: bool = False, backend: str = "auto") -> None:
        super().__init__()
        if not isinstance(cell, RecurrentCell):
            raise ValueError(f"cell must be a seqmodels RecurrentCell, got {type(cell).__name__}")
        self.cell = cell
        self.batch_first = batch_first
        self.backend = check_backend(backend)

    @property
    def input_size(self) -> int:
        return self.cell.input_size

    @property
    def output_size(self) -> int:
        return self.cell.hidden_size

    def cells(self) -> list[RecurrentCell]:
        return [self.cell]

    def _state_list(self, state: State | None) -> list[State] | None:
        return None if state is None else [state]

    def _from_state_list(self, states: list[State]) -> State:
        return states[0]

    def unroll(self, x: Tensor, state: State | None, lengths: Tensor | None) -> tuple[Tensor, State]:
        """Our own (``custom``) unroll on validated inputs: x (T, B, I) -> (T, B, H), final state.

        The cell's sequence-level Function when it has one (:func:`~.backends.fused_sequence`),
        else the generic loop over ``cell.step``.
        """
        cell = self.cell
        T, B = x.shape[0], x.shape[1]
        if state is None:
            state = cell.init_state(B, x.device, x.dtype)
        fused = fused_sequence(cell)
        if fused is not None and T > 0:
            return fused(cell, x, state, None if lengths is None else step_mask(lengths, T))
        x_proj = cell.input_projection(x).unbind(0)  # T × (B, G*H), one matmul for all steps
        outputs = []
        if lengths is None:
            for x_t in x_proj:
                h, state = cell.step(x_t, state)
                outputs.append(h)
        else:
            masks = step_mask(lengths, T).unbind(0)  # T × (B, 1)
            for x_t, m in zip(x_proj, masks):
                h, new_state = cell.step(x_t, state)
                state = map_state(lambda new, old: torch.where(m, new, old), new_state, state)  # noqa: B023 (called here)
                outputs.append(torch.where(m, h, torch.zeros((), dtype=h.dtype, device=h.device)))
        if not outputs:
            return x.new_zeros(0, B, cell.hidden_size), state
        return torch.stack(outputs), state  # (T, B, H)
