"""Cells: one time step of a recurrence, ``forward(x, state) -> (h, new_state)``."""

from .base import RecurrentCell, State
from .gru import GRUCell, SimplifiedGRUCell
from .layernorm import LayerNormGRUCell, LayerNormLSTMCell
from .lstm import LSTMCell
from .peephole import PeepholeLSTMCell
from .rnn import RNNCell
from .variational import VariationalDropout
from .weight_drop import WeightDrop
from .wrapper import CellWrapper
from .zoneout import Zoneout

__all__ = [
    "CellWrapper",
    "GRUCell",
    "LSTMCell",
    "LayerNormGRUCell",
    "LayerNormLSTMCell",
    "PeepholeLSTMCell",
    "RNNCell",
    "RecurrentCell",
    "SimplifiedGRUCell",
    "State",
    "VariationalDropout",
    "WeightDrop",
    "Zoneout",
]
