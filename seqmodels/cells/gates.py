"""The gate values of one step, for monitoring (saturation, mean gate over time).

``gate_activations(cell, x_proj, state)`` returns ``{name: (B, H) tensor in [0, 1]}``: LSTM-like
cells ``input``, ``forget``, ``output``; GRU ``reset``, ``update`` (torch's z: 1 keeps the old
state); the simplified GRU ``update`` (its u: 1 takes the candidate). A cell of another type may
define a method ``gate_activations(x_proj, state)`` returning the same; cells with no gates (the
vanilla RNN) give ``{}``. Wrappers report their innermost cell's gates. The formulas are the cells'
own (``cells/``), evaluated on the same ``input_projection`` the step receives.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from .base import RecurrentCell, State
from .gru import GRUCell, SimplifiedGRUCell
from .lstm import LSTMCell
from .peephole import PeepholeLSTMCell
from .wrapper import CellWrapper

# (cell, x_proj, state) -> gates; the cell is an instance of the class the function is keyed by in GATES
GateFn = Callable[[Any, Tensor, State], "dict[str, Tensor]"]


def _lstm(cell: LSTMCell, x_proj: Tensor, state: State) -> dict[str, Tensor]:
    i, f, _, o = (x_proj + cell.hidden_projection(state[0])).split(cell.hidden_size, dim=-1)
    return {"input": torch.sigmoid(i), "forget": torch.sigmoid(f), "output": torch.sigmoid(o)}


def _peephole(cell: PeepholeLSTMCell, x_proj: Tensor, state: State) -> dict[str, Tensor]:
    h, c = state
    i, f, g, o = (x_proj + cell.hidden_projection(h)).split(cell.hidden_size, dim=-1)
    gate_i = torch.sigmoid(i + cell.weight_ci * c)
    gate_f = torch.sigmoid(f + cell.weight_cf * c)
    c_new = gate_f * c + gate_i * torch.tanh(g)
    return {"input": gate_i, "forget": gate_f, "output": torch.sigmoid(o + cell.weight_co * c_new)}


def _gru(cell: GRUCell, x_proj: Tensor, state: State) -> dict[str, Tensor]:
    H = cell.hidden_size
    x_r, x_z, _ = x_proj.split(H, dim=-1)
    w_rz = cell.weight_hh[: 2 * H]
    b_rz = None if cell.bias_hh is None else cell.bias_hh[: 2 * H]
    h_r, h_z = torch.nn.functional.linear(state, w_rz, b_rz).split(H, dim=-1)  # both GRU forms
    return {"reset": torch.sigmoid(x_r + h_r), "update": torch.sigmoid(x_z + h_z)}


def _simplified_gru(cell: SimplifiedGRUCell, x_proj: Tensor, state: State) -> dict[str, Tensor]:
    pre_u, _ = (x_proj + cell.hidden_projection(state)).split(cell.hidden_size, dim=-1)
    return {"update": torch.sigmoid(pre_u)}


GATES: dict[type[RecurrentCell], GateFn] = {
    LSTMCell: _lstm,
    PeepholeLSTMCell: _peephole,
    GRUCell: _gru,
    SimplifiedGRUCell: _simplified_gru,
}


def gate_activations(cell: RecurrentCell, x_proj: Tensor, state: State) -> dict[str, Tensor]:
    """``{gate name: (B, H) values}`` of ``cell``'s step on ``x_proj`` (B, G*H) from ``state``."""
    while isinstance(cell, CellWrapper):
        cell = cell.cell
    method = getattr(cell, "gate_activations", None)
    if callable(method):
        return method(x_proj, state)
    fn = GATES.get(type(cell))  # exact types: a subclass may compute its gates differently
    return {} if fn is None else fn(cell, x_proj, state)
