"""LSTM cell, weight-compatible with ``torch.nn.LSTMCell``."""

from __future__ import annotations

import torch
from torch import Tensor

from .base import RecurrentCell


class LSTMCell(RecurrentCell):
    """Long short-term memory (Hochreiter & Schmidhuber 1997), gate order i, f, g, o as torch::

        [i, f, g, o] = W_ih x + b_ih + W_hh h + b_hh
        c' = σ(f) * c + σ(i) * tanh(g)
        h' = σ(o) * tanh(c')

    State ``(h, c)``, each (B, H); ``weight_ih`` (4H, I), ``weight_hh`` (4H, H).

    Args:
        forget_bias: added to the forget-gate slice of ``bias_ih`` after torch's uniform init
            (Gers et al. 2000; Jozefowicz et al. 2015 recommend 1.0). The default 0.0 leaves
            torch's init untouched. Needs ``bias=True`` when non-zero.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, forget_bias: float = 0.0) -> None:
        if isinstance(forget_bias, bool) or not isinstance(forget_bias, (int, float)):
            raise ValueError(f"forget_bias must be a number, got {forget_bias!r}")
        if forget_bias != 0.0 and not bias:
            raise ValueError(f"forget_bias={forget_bias!r} needs bias=True")
        self.forget_bias = float(forget_bias)
        super().__init__(input_size, hidden_size, bias, num_gates=4)

    def reset_parameters(self) -> None:
        super().reset_parameters()
        if self.forget_bias != 0.0:
            H = self.hidden_size
            with torch.no_grad():
                self.bias_ih[H : 2 * H] += self.forget_bias

    @property
    def state_size(self) -> tuple[int, int]:
        return (self.hidden_size, self.hidden_size)

    def step(self, x_proj: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        h, c = state
        i, f, g, o = (x_proj + self.hidden_projection(h)).split(self.hidden_size, dim=-1)
        c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h_new = torch.sigmoid(o) * torch.tanh(c_new)
        return h_new, (h_new, c_new)

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s + (f", forget_bias={self.forget_bias}" if self.forget_bias else "")
