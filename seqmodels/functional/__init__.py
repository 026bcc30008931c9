"""Hand-written reference recurrences: forward with caches, backpropagation through time by hand.

For each cell kind, time-major and batched::

    outputs, final_state, cache = xxx_forward(x, h0[, c0], weight_ih, weight_hh, bias_ih, bias_hh, lengths=None)
    grads = xxx_backward(grad_outputs, grad_final_state..., cache)
    # grads: (x, h0[, c0], weight_ih, weight_hh, bias_ih, bias_hh), a NamedTuple

Weights are torch's (``weight_ih`` (G*H, I), ``weight_hh`` (G*H, H), gate order as torch), so a
:class:`seqmodels.cells.RecurrentCell`'s parameters plug straight in. ``lengths`` follow
:class:`seqmodels.layers.Recurrent`: state frozen after each sequence's end, outputs zero there.

These are the readable reference: every step's backward is written out with the equations in the
docstrings, and the tests check them against autograd and ``torch.autograd.gradcheck``.
"""

from .common import Grads, LSTMGrads
from .gru import GRUCache, gru_backward, gru_forward
from .lstm import LSTMCache, lstm_backward, lstm_forward
from .rnn import RNNCache, rnn_backward, rnn_forward

__all__ = [
    "GRUCache",
    "Grads",
    "LSTMCache",
    "LSTMGrads",
    "RNNCache",
    "gru_backward",
    "gru_forward",
    "lstm_backward",
    "lstm_forward",
    "rnn_backward",
    "rnn_forward",
]
