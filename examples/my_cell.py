"""Writing your own cell: the minimal gated unit (MGU; Zhou, Wu, Zhang & Zhou 2016).

One gate instead of the GRU's two: the forget gate f also plays the reset gate's part::

    f  = σ(W_f x + b_if + U_f h + b_hf)
    n  = tanh(W_n x + b_in + U_n (f ⊙ h) + b_hn)
    h' = (1 - f) ⊙ h + f ⊙ n

Shapes: x (B, I), h (B, H). Parameters as every seqmodels cell, gate order (f, n):
``weight_ih`` (2H, I), ``weight_hh`` (2H, H), ``bias_ih``/``bias_hh`` (2H,).

All it takes is a subclass of :class:`seqmodels.cells.RecurrentCell` with ``num_gates`` and a
``step``; every layer (lengths, bidirectional, stacked), model, task and config then runs it.
Use it from the command line with ``configs/model/cell/mgu.yaml`` next to this file::

    cd examples
    PYTHONPATH=. seqmodels-train hydra.searchpath=[file://configs] model/cell=mgu
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from seqmodels.cells import RecurrentCell


class MinimalGatedCell(RecurrentCell):
    """Minimal gated unit: a GRU whose single forget gate also resets (see the module docstring)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__(input_size, hidden_size, bias, num_gates=2)

    def step(self, x_proj: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        h = state  # (B, H)
        x_f, x_n = x_proj.split(self.hidden_size, dim=-1)  # each (B, H)
        w_f, w_n = self.weight_hh.split(self.hidden_size, dim=0)  # each (H, H)
        b_f, b_n = self.bias_hh.split(self.hidden_size) if self.bias_hh is not None else (None, None)
        f = torch.sigmoid(x_f + F.linear(h, w_f, b_f))
        n = torch.tanh(x_n + F.linear(f * h, w_n, b_n))
        h_new = (1 - f) * h + f * n
        return h_new, h_new
