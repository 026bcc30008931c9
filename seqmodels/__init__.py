"""seqmodels: recurrent sequence models done right.

- :mod:`seqmodels.cells`: one time step (``RNNCell``, ``GRUCell``, ``SimplifiedGRUCell``, ``LSTMCell``, ``PeepholeLSTMCell``).
- :mod:`seqmodels.layers`: unroll over time (``Recurrent``, ``Bidirectional``, ``Stacked``).
- :mod:`seqmodels.rnn`: ``RNN``, ``GRU``, ``LSTM``, drop-ins for torch's modules.
- :mod:`seqmodels.interop`: weights to and from torch's modules.
"""

from .cells import GRUCell, LSTMCell, PeepholeLSTMCell, RecurrentCell, RNNCell, SimplifiedGRUCell
from .layers import Bidirectional, Recurrent, Stacked
from .rnn import GRU, LSTM, RNN, RNNBase

__version__ = "0.1.0"

__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "Bidirectional",
    "GRUCell",
    "LSTMCell",
    "PeepholeLSTMCell",
    "RNNBase",
    "RNNCell",
    "Recurrent",
    "RecurrentCell",
    "SimplifiedGRUCell",
    "Stacked",
]
