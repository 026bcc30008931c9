"""Forward and reverse directions over the same sequence, outputs concatenated."""

from __future__ import annotations

import torch
from torch import Tensor

from ..cells.base import RecurrentCell, State
from .backends import check_backend
from .recurrent import Recurrent
from .sequence import SequenceLayer


def reverse_padded(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Reverse each sequence of x (T, B, ...) within its own length; padding stays in place.

    Applying it twice gives x back.
    """
    if lengths is None:
        return x.flip(0)
    T, B = x.shape[0], x.shape[1]
    t = torch.arange(T, device=x.device)[:, None]  # (T, 1)
    idx = torch.where(t < lengths[None, :], lengths[None, :] - 1 - t, t)  # (T, B)
    idx = idx.view(T, B, *([1] * (x.dim() - 2))).expand_as(x)
    return x.gather(0, idx)


class Bidirectional(SequenceLayer):
    """Runs ``forward_cell`` left to right and ``backward_cell`` right to left.

    ``forward(x, state=None, lengths=None) -> (output, (state_fwd, state_bwd))``

    Shapes: x (T, B, I); output (T, B, 2H) = [forward outputs, backward outputs].
    ``backend``: ``"auto"``, ``"custom"`` or ``"torch"`` (see :mod:`seqmodels.layers.backends`).
    The reverse direction reverses *within each sequence's length*, so for a padded sequence
    it starts at its last real step, as ``pack_padded_sequence`` does.
    """

    bidirectional = True

    def __init__(
        self,
        forward_cell: RecurrentCell,
        backward_cell: RecurrentCell,
        batch_first: bool = False,
        backend: str = "auto",
    ) -> None:
        super().__init__()
        if forward_cell.input_size != backward_cell.input_size or forward_cell.hidden_size != backward_cell.hidden_size:
            raise ValueError(
                "forward_cell and backward_cell must have the same input_size and hidden_size, got "
                f"({forward_cell.input_size}, {forward_cell.hidden_size}) and "
                f"({backward_cell.input_size}, {backward_cell.hidden_size})"
            )
        self.forward_layer = Recurrent(forward_cell)
        self.backward_layer = Recurrent(backward_cell)
        self.batch_first = batch_first
        self.backend = check_backend(backend)

    @property
    def input_size(self) -> int:
        return self.forward_layer.cell.input_size

    @property
    def output_size(self) -> int:
        return 2 * self.forward_layer.cell.hidden_size

    def cells(self) -> list[RecurrentCell]:
        return [self.forward_layer.cell, self.backward_layer.cell]

    def _state_list(self, state: tuple[State, State] | None) -> list[State] | None:
        return None if state is None else list(state)

    def _from_state_list(self, states: list[State]) -> tuple[State, State]:
        return states[0], states[1]

    def unroll(
        self, x: Tensor, state: tuple[State, State] | None, lengths: Tensor | None
    ) -> tuple[Tensor, tuple[State, State]]:
        """Our own (``custom``) unroll, time-major on validated inputs: x (T, B, I) -> (T, B, 2H), (state_fwd, state_bwd)."""
        state_f, state_b = (None, None) if state is None else state
        out_f, state_f = self.forward_layer.unroll(x, state_f, lengths)
        out_b, state_b = self.backward_layer.unroll(reverse_padded(x, lengths), state_b, lengths)
        out_b = reverse_padded(out_b, lengths)
        return torch.cat([out_f, out_b], dim=-1), (state_f, state_b)
