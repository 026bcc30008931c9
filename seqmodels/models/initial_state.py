"""A learned initial state h_0 (and c_0) for a stack of recurrent layers."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..cells.base import State
from ..utils.state import map_state


class LearnedInitialState(nn.Module):
    """The state every sequence starts from, as parameters instead of zeros.

    One vector per layer, direction and state tensor (LSTM: h_0 and c_0), shared by every sequence
    and trained with the rest of the model. Initialised at zero, so an untrained model starts
    exactly as with the default zero state.

    Args:
        template: the stack's state for one sequence, e.g. ``Stacked.init_state(1)``: a list of
            L*D cell states, each a (1, H) tensor or a tuple of them.

    ``forward(batch_size) -> state``: the template's structure with each tensor (B, H).
    Parameters are named ``0``, ``1``, … in the template's (torch's layer/direction) order.
    """

    def __init__(self, template: list[State]) -> None:
        super().__init__()
        leaves: list[Tensor] = []

        def record(t: Tensor) -> Tensor:
            leaves.append(t)
            return t.to("meta")  # structure only

        self.template = map_state(record, template)
        self.values = nn.ParameterList([nn.Parameter(torch.zeros(t.shape[-1], dtype=t.dtype)) for t in leaves])

    def forward(self, batch_size: int) -> list[State]:
        it = iter(self.values)
        return map_state(lambda _: next(it).expand(batch_size, -1).contiguous(), self.template)  # (B, H) each

    def extra_repr(self) -> str:
        return f"{len(self.values)} vectors"
