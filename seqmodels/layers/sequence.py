"""The forward pass shared by every sequence layer: checks, layout, backend choice.

:class:`SequenceLayer` is the base of :class:`~seqmodels.layers.Recurrent`,
:class:`~seqmodels.layers.Bidirectional` and :class:`~seqmodels.layers.Stacked`. Its ``forward``

1. checks that x is 3-D with ``input_size`` features,
2. makes it time-major, (B, T, I) -> (T, B, I), when ``batch_first`` (the one place the layout changes),
3. checks ``lengths`` (B,), integers in [1, T],
4. runs the layer's cells on torch's kernel when the backend says so
   (:func:`~seqmodels.layers.backends.uses_torch`), else the layer's own time-major ``unroll``,
5. gives the output back in the input's layout.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from ..cells.base import RecurrentCell, State
from ..utils.checks import check_input, checked_lengths
from ..utils.state import check_state_like
from .backends import torch_forward, uses_torch


class SequenceLayer(nn.Module):
    """Base of the sequence layers: ``forward(x, state=None, lengths=None) -> (output, final_state)``.

    A subclass sets ``batch_first`` and ``backend``, and defines

    * ``input_size`` (I, read off its first cells);

    * ``cells()``: its L*D cells in torch's order (layer-major, forward before reverse), with
      ``num_layers`` (L), ``bidirectional`` (D = 2 when True) and ``dropout`` (between layers) to
      match;
    * ``unroll(x, state, lengths)``: the ``custom`` backend, on validated time-major inputs
      x (T, B, I) -> (T, B, D*H), final state;
    * ``_state_list(state)`` / ``_from_state_list(states)``: its state <-> the list of L*D cell states
      that :func:`~seqmodels.layers.backends.torch_forward` takes and returns (``_state_list`` also
      checks the state).

    Shapes: x (T, B, I), or (B, T, I) with ``batch_first``; output likewise with D*H features.
    """

    num_layers: int = 1
    bidirectional: bool = False
    dropout: float = 0.0
    batch_first: bool
    backend: str

    @property
    def input_size(self) -> int:
        """I, the features of the input."""
        raise NotImplementedError(f"{type(self).__name__} must define input_size")

    def cells(self) -> list[RecurrentCell]:
        """The L*D cells in torch's order (layer-major, forward before reverse)."""
        raise NotImplementedError(f"{type(self).__name__} must implement cells()")

    def unroll(self, x: Tensor, state: Any, lengths: Tensor | None) -> tuple[Tensor, Any]:
        """The ``custom`` backend on validated time-major inputs: x (T, B, I) -> (T, B, D*H), final state."""
        raise NotImplementedError(f"{type(self).__name__} must implement unroll(x, state, lengths)")

    def _state_list(self, state: Any) -> list[State] | None:
        """The layer's (checked) state as torch_forward's list of L*D cell states; None stays None."""
        raise NotImplementedError(f"{type(self).__name__} must implement _state_list(state)")

    def _from_state_list(self, states: list[State]) -> Any:
        """torch_forward's list of L*D final cell states as the layer's state."""
        raise NotImplementedError(f"{type(self).__name__} must implement _from_state_list(states)")

    def forward(self, x: Tensor, state: Any = None, lengths: Tensor | None = None) -> tuple[Tensor, Any]:
        check_input(x, self.input_size)
        if self.batch_first:
            x = x.transpose(0, 1)  # (T, B, I)
        checked = checked_lengths(lengths, x.shape[1], x.shape[0], x.device)
        # the host copy decides and packs (reading it never waits for a GPU); the masks use the device copy
        host_lengths, device_lengths = (None, None) if checked is None else checked
        states = self._state_list(state)
        check_state_like(states, x, x.shape[1])
        cells = self.cells()
        if uses_torch(self.backend, cells, x, host_lengths):
            output, final = torch_forward(
                cells, self.num_layers, self.bidirectional, x, states, host_lengths, self.dropout, self.training
            )
            final_state = self._from_state_list(final)
        else:
            output, final_state = self.unroll(x, state, device_lengths)
        return (output.transpose(0, 1) if self.batch_first else output), final_state
