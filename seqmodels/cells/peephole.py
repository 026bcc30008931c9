"""Peephole LSTM (Gers & Schmidhuber 2000): the gates also look at the cell state."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .base import RecurrentCell


class PeepholeLSTMCell(RecurrentCell):
    """LSTM whose gates see the cell state through diagonal "peephole" weights.

    Gers & Schmidhuber, "Recurrent nets that time and count" (IJCNN 2000); gate order i, f, g, o
    as torch, ``[ĩ, f̃, g̃, õ] = W_ih x + b_ih + W_hh h + b_hh``::

        i  = σ(ĩ + w_ci ⊙ c)            input gate peeks at the old cell
        f  = σ(f̃ + w_cf ⊙ c)            forget gate peeks at the old cell
        g  = tanh(g̃)
        c' = f ⊙ c + i ⊙ g
        o  = σ(õ + w_co ⊙ c')           output gate peeks at the *new* cell
        h' = o ⊙ tanh(c')

    With zero peephole weights it is exactly :class:`~seqmodels.cells.LSTMCell`. It is not a torch
    LSTM, so it deliberately does not subclass ``LSTMCell`` (interop must not treat it as one).

    Parameters: those of every cell plus ``weight_ci``, ``weight_cf``, ``weight_co`` (the vectors
    w_ci, w_cf, w_co), each (H,), initialised like the rest, uniform in ±1/√H.
    State ``(h, c)``, each (B, H).

    This file is also the worked example of extending seqmodels with a new cell: subclass
    :class:`RecurrentCell`, add parameters, implement :meth:`step` (and :attr:`state_size` for a
    tuple state); every layer, model and config then runs it unchanged.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__(input_size, hidden_size, bias, num_gates=4)
        self.weight_ci = nn.Parameter(torch.empty(hidden_size))
        self.weight_cf = nn.Parameter(torch.empty(hidden_size))
        self.weight_co = nn.Parameter(torch.empty(hidden_size))
        bound = 1.0 / math.sqrt(hidden_size)
        for p in (self.weight_ci, self.weight_cf, self.weight_co):
            nn.init.uniform_(p, -bound, bound)  # later reset_parameters() calls cover them too

    @property
    def state_size(self) -> tuple[int, int]:
        return (self.hidden_size, self.hidden_size)

    def step(self, x_proj: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        h, c = state
        pre_i, pre_f, pre_g, pre_o = (x_proj + self.hidden_projection(h)).split(self.hidden_size, dim=-1)
        i = torch.sigmoid(pre_i + self.weight_ci * c)
        f = torch.sigmoid(pre_f + self.weight_cf * c)
        c_new = f * c + i * torch.tanh(pre_g)
        o = torch.sigmoid(pre_o + self.weight_co * c_new)
        h_new = o * torch.tanh(c_new)
        return h_new, (h_new, c_new)
