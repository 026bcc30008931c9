"""GRU cells: torch/cuDNN's form, the textbook form, and the simplified GRU (update gate only)."""

from __future__ import annotations

import torch
from torch import Tensor

from .base import RecurrentCell


class GRUCell(RecurrentCell):
    """Gated recurrent unit (Cho et al. 2014), gate order r, z, n as torch.

    With ``reset_after=True`` (torch, cuDNN, Keras' ``reset_after``)::

        r = σ(W_ir x + b_ir + W_hr h + b_hr)
        z = σ(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
        h' = (1 - z) * n + z * h

    With ``reset_after=False`` (the textbook form, ``tanh(W_c [r*h, x] + b_c)``) the reset gate
    scales h *before* its matmul: ``n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)``.
    Both forms hold the same parameters; only ``reset_after=True`` equals ``torch.nn.GRUCell``.

    Shapes: x (B, I), h (B, H); ``weight_ih`` (3H, I), ``weight_hh`` (3H, H).
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, reset_after: bool = True) -> None:
        if not isinstance(reset_after, bool):
            raise ValueError(f"reset_after must be True or False, got {reset_after!r}")
        self.reset_after = reset_after
        super().__init__(input_size, hidden_size, bias, num_gates=3)

    def step(self, x_proj: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        h = state
        H = self.hidden_size
        x_r, x_z, x_n = x_proj.split(H, dim=-1)
        if self.reset_after:
            h_r, h_z, h_n = self.hidden_projection(h).split(H, dim=-1)
            r = torch.sigmoid(x_r + h_r)
            z = torch.sigmoid(x_z + h_z)
            n = torch.tanh(x_n + r * h_n)
        else:
            w_rz, w_n = self.weight_hh.split((2 * H, H), dim=0)
            b_rz, b_n = (None, None) if self.bias_hh is None else self.bias_hh.split((2 * H, H))
            h_r, h_z = torch.nn.functional.linear(h, w_rz, b_rz).split(H, dim=-1)
            r = torch.sigmoid(x_r + h_r)
            z = torch.sigmoid(x_z + h_z)
            n = torch.tanh(x_n + torch.nn.functional.linear(r * h, w_n, b_n))
        h_new = n + z * (h - n)  # = (1 - z) * n + z * h
        return h_new, h_new

    def extra_repr(self) -> str:
        return super().extra_repr() + f", reset_after={self.reset_after}"


class SimplifiedGRUCell(RecurrentCell):
    """The simplified GRU: one update gate, no reset gate (the form taught before the full GRU).

        u  = σ(W_u [c, x] + b_u)
        c̃  = tanh(W_c [c, x] + b_c)
        c' = u * c̃ + (1 - u) * c

    Stored torch-style with gate order (u, c̃): ``weight_ih`` (2H, I) holds the x-columns of
    ``[W_u; W_c]``, ``weight_hh`` (2H, H) their c-columns, and ``b = b_ih + b_hh``.
    Note the convention: here u weighs the *candidate*, whereas torch's GRU z weighs the old state.

    Shapes: x (B, I), c (B, H).
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__(input_size, hidden_size, bias, num_gates=2)

    def step(self, x_proj: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        c = state
        pre_u, pre_c = (x_proj + self.hidden_projection(c)).split(self.hidden_size, dim=-1)
        u = torch.sigmoid(pre_u)
        c_tilde = torch.tanh(pre_c)
        c_new = c + u * (c_tilde - c)  # = u * c̃ + (1 - u) * c
        return c_new, c_new
