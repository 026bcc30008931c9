"""Deep (stacked) recurrent layers with dropout between them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from torch import Tensor, nn

from ..cells.base import CellFactory, RecurrentCell, State
from ..kernels.dropout import dropout
from ..utils.checks import check_positive_int, check_probability
from .backends import check_backend
from .bidirectional import Bidirectional
from .recurrent import Recurrent
from .sequence import SequenceLayer


class Stacked(SequenceLayer):
    """``num_layers`` recurrent layers, each optionally bidirectional, dropout between layers.

    Args:
        cell: a factory ``cell(input_size=..., hidden_size=...) -> RecurrentCell``, e.g. the class
            ``LSTMCell`` or ``functools.partial(GRUCell, reset_after=False)``. Called once per
            layer and direction.
        input_size: I, features of the input.
        hidden_size: H, features of each direction's state.
        num_layers: depth L.
        bidirectional: D = 2 directions per layer when True, else 1.
        dropout: drop probability on each layer's output except the last's (training only).
        batch_first: inputs/outputs are (B, T, ·).
        backend: ``"auto"``, ``"custom"`` or ``"torch"`` (see :mod:`seqmodels.layers.backends`);
            ``"torch"`` runs the whole stack, dropout included, in one torch kernel call.

    ``forward(x, state=None, lengths=None) -> (output, states)``

    Shapes: x (T, B, I); output (T, B, D*H); ``states`` is a list of L*D cell states in torch's
    order (layer 0 forward, layer 0 reverse, layer 1 forward, …).
    """

    def __init__(
        self,
        cell: CellFactory,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        batch_first: bool = False,
        backend: str = "auto",
    ) -> None:
        super().__init__()
        check_positive_int("input_size", input_size)
        check_positive_int("hidden_size", hidden_size)
        self.num_layers = check_positive_int("num_layers", num_layers)
        self.dropout = check_probability("dropout", dropout)
        if not callable(cell):
            raise ValueError(f"cell must be a cell class or factory, got {cell!r}")
        self.hidden_size = hidden_size
        self.bidirectional = bool(bidirectional)
        self.num_directions = 2 if bidirectional else 1
        self.batch_first = batch_first
        self.backend = check_backend(backend)
        layers: list[SequenceLayer] = []
        for layer in range(num_layers):
            size_in = input_size if layer == 0 else hidden_size * self.num_directions
            if bidirectional:
                layers.append(
                    Bidirectional(
                        cell(input_size=size_in, hidden_size=hidden_size),
                        cell(input_size=size_in, hidden_size=hidden_size),
                    )
                )
            else:
                layers.append(Recurrent(cell(input_size=size_in, hidden_size=hidden_size)))
        self.layers = nn.ModuleList(layers)

    @property
    def input_size(self) -> int:
        return self._sequence_layers()[0].input_size

    @property
    def output_size(self) -> int:
        return self.num_directions * self.hidden_size

    def _sequence_layers(self) -> list[SequenceLayer]:
        """``self.layers``, typed: each a Recurrent, or a Bidirectional when ``bidirectional``."""
        return cast(list[SequenceLayer], list(self.layers))

    def cells(self) -> list[RecurrentCell]:
        """The L*D cells in torch's order (layer-major, forward before reverse)."""
        return [cell for layer in self._sequence_layers() for cell in layer.cells()]

    def init_state(self, batch_size: int, device=None, dtype=None) -> list[State]:
        return [c.init_state(batch_size, device, dtype) for c in self.cells()]

    def _state_list(self, state: Sequence[State] | None) -> list[State] | None:
        if state is None:
            return None
        if len(state) != self.num_layers * self.num_directions:
            raise ValueError(
                f"state must hold num_layers*num_directions={self.num_layers * self.num_directions} states, "
                f"got {len(state)}"
            )
        return list(state)

    def _from_state_list(self, states: list[State]) -> list[State]:
        return states

    def unroll(self, x: Tensor, state: Sequence[State] | None, lengths: Tensor | None) -> tuple[Tensor, list[State]]:
        """Our own (``custom``) unroll, layer by layer, on validated time-major inputs:
        x (T, B, I) -> (T, B, D*H), the L*D final states; dropout between layers in training."""
        final: list[State] = []
        for index, layer in enumerate(self._sequence_layers()):
            if index > 0 and self.dropout > 0.0:
                x = dropout(x, self.dropout, self.training)
            if state is None:
                layer_state = None
            elif self.bidirectional:
                layer_state = (state[2 * index], state[2 * index + 1])
            else:
                layer_state = state[index]
            x, layer_state = layer.unroll(x, layer_state, lengths)
            final.extend(layer_state if self.bidirectional else [layer_state])
        return x, final

    def step(self, x: Tensor, state: Sequence[State] | None = None) -> tuple[Tensor, list[State]]:
        """One time step through every layer, for generation: x (B, I) -> (top output (B, H), states).

        Calls each cell once, with no time loop, sequence checks or stacking, so sampling token by
        token costs only the cells' own work (wrap it in ``torch.inference_mode()`` to drop
        autograd's bookkeeping too). Unidirectional stacks only: a reverse direction needs the
        whole sequence.
        """
        if self.bidirectional:
            raise ValueError("step() runs one time step, which a bidirectional stack cannot do; use forward()")
        if state is None:
            state = self.init_state(x.shape[0], x.device, x.dtype)
        new_state = []
        for index, (cell, layer_state) in enumerate(zip(self.cells(), state)):  # one cell per layer
            if index > 0 and self.dropout > 0.0:
                x = dropout(x, self.dropout, self.training)
            x, layer_state = cell(x, layer_state)
            new_state.append(layer_state)
        return x, new_state
