"""Vanilla (Elman) RNN cell, weight-compatible with ``torch.nn.RNNCell``."""

from __future__ import annotations

import torch
from torch import Tensor

from .base import RecurrentCell

NONLINEARITIES = {"tanh": torch.tanh, "relu": torch.relu}


class RNNCell(RecurrentCell):
    """h_t = φ(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), φ = tanh or relu.

    Shapes: x (B, I), h (B, H); ``weight_ih`` (H, I), ``weight_hh`` (H, H).
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh") -> None:
        if nonlinearity not in NONLINEARITIES:
            raise ValueError(f"nonlinearity must be one of {sorted(NONLINEARITIES)}, got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, num_gates=1)

    def step(self, x_proj: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        h = NONLINEARITIES[self.nonlinearity](x_proj + self.hidden_projection(state))
        return h, h

    def extra_repr(self) -> str:
        return super().extra_repr() + f", nonlinearity={self.nonlinearity!r}"
