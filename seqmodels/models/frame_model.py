"""Next-frame model over real-valued frames (piano rolls): frames -> stacked recurrent layers -> one logit per key."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..cells.base import CellFactory, State
from ..kernels.dropout import Dropout
from ..layers.stacked import Stacked
from ..utils.checks import check_positive_int, check_probability


class RNNFrameModel(nn.Module):
    """``p(x_{t+1} | x_1..x_t) = Π_k Bernoulli(x_{t+1,k}; σ(logits_{t,k}))``: one independent Bernoulli per
    key given the past, as the RNN baselines of Boulanger-Lewandowski et al. (2012) and the models of
    Chung et al. (2014) on polyphonic music.

    ::

        h_t = Stacked(cell)(x_t, state)           # (B, T, H); x_t the multi-hot frame (B, T, F)
        logits_t = W_out dropout(h_t) + b_out     # (B, T, F)

    The frames enter the first layer directly (its ``W_ih`` is the input projection).

    Args:
        input_size: F, keys per frame (88 for the piano), also the number of outputs.
        cell: a cell factory (class or ``functools.partial``), as for :class:`~seqmodels.models.RNNLanguageModel`.
        hidden_size: H, size of every layer's state.
        num_layers: L.
        dropout: drop probability between layers and before the head (never on the 0/1 input frames).
        backend: ``"auto"``, ``"custom"`` or ``"torch"`` (see :mod:`seqmodels.layers.backends`).

    ``forward(inputs (B, T, F) float, lengths (B,) | None, state=None) -> (logits (B, T, F), state)``;
    outputs past a roll's length are the head applied to zeros (ignore them). ``step(frame (B, F), state)
    -> (logits (B, F), state)`` is one time step, for sampling.
    """

    def __init__(
        self,
        input_size: int,
        cell: CellFactory,
        hidden_size: int = 128,
        num_layers: int = 1,
        dropout: float = 0.0,
        backend: str = "auto",
    ) -> None:
        super().__init__()
        self.input_size = check_positive_int("input_size", input_size)
        self.hidden_size = check_positive_int("hidden_size", hidden_size)
        self.num_layers = check_positive_int("num_layers", num_layers)
        self.dropout_p = check_probability("dropout", dropout)
        self.rnn = Stacked(
            cell, input_size, hidden_size, num_layers, dropout=self.dropout_p, batch_first=True, backend=backend
        )
        self.drop = Dropout(self.dropout_p)
        self.head = nn.Linear(hidden_size, input_size)

    def _check(self, x: Tensor, dims: int, what: str) -> None:
        if not isinstance(x, Tensor) or x.dim() != dims or not x.dtype.is_floating_point:
            got = f"shape {tuple(x.shape)} dtype {x.dtype}" if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(
                f"{what} must be a float tensor {'(batch, seq, F)' if dims == 3 else '(batch, F)'}, got {got}"
            )
        if x.shape[-1] != self.input_size:
            raise ValueError(f"{what} have {x.shape[-1]} keys, expected input_size={self.input_size}")

    def init_state(self, batch_size: int, device: torch.device | None = None) -> list[State]:
        """Zero states for ``batch_size`` rolls, one per layer."""
        return self.rnn.init_state(batch_size, device, self.head.weight.dtype)

    def forward(
        self, inputs: Tensor, lengths: Tensor | None = None, state: list[State] | None = None
    ) -> tuple[Tensor, list[State]]:
        self._check(inputs, 3, "inputs")
        out, state = self.rnn(inputs, state, lengths=lengths)  # (B, T, H); validates lengths
        return self.head(self.drop(out)), state  # (B, T, F)

    def step(self, frame: Tensor, state: list[State] | None = None) -> tuple[Tensor, list[State]]:
        """One time step: ``forward`` on a one-frame sequence without its time loop (sampling)."""
        self._check(frame, 2, "frame")
        h, state = self.rnn.step(frame, state)  # (B, H)
        return self.head(self.drop(h)), state  # (B, F)

    def extra_repr(self) -> str:
        return f"input_size={self.input_size}"
