"""Cells: one time step of a recurrence, ``forward(x, state) -> (h, new_state)``."""

from .base import RecurrentCell, State
from .gru import GRUCell, SimplifiedGRUCell
from .lstm import LSTMCell
from .peephole import PeepholeLSTMCell
from .rnn import RNNCell

__all__ = ["RecurrentCell", "State", "RNNCell", "GRUCell", "SimplifiedGRUCell", "LSTMCell", "PeepholeLSTMCell"]
