"""Variational (recurrent) dropout (Gal & Ghahramani 2016): one dropout mask per sequence."""

from __future__ import annotations

import torch
from torch import Tensor

from ..utils.checks import check_probability
from .base import RecurrentCell, State
from .wrapper import CellFactory, CellWrapper, dropout_mask, recurrent_input_transform


class VariationalDropout(CellWrapper):
    """Dropout on a cell's input x_t and recurrent input h_{t-1} with masks fixed over time.

    Gal & Ghahramani, "A Theoretically Grounded Application of Dropout in Recurrent Neural Networks"
    (NeurIPS 2016). With masks m_x (B, I) and m_h (B, H) drawn once per sequence,
    entries 0 with probability p and 1/(1-p) otherwise::

        x_proj_t = input_projection(m_x ⊙ x_t)              # every gate sees the same dropped x
        pre_t    = x_proj_t + hidden_projection(m_h ⊙ h_{t-1})

    and nothing else changes: the dropped ``h`` only enters the recurrent matmul, so GRU's
    ``z ⊙ h`` interpolation and LSTM's cell state carry the undropped values (no memory loss,
    Semeniuta et al. 2016). In a stack the input mask of layer l > 0 is the variational
    dropout *between* layers, and layer 0's is the dropout of the embeddings.

    Works for every cell whose step computes ``W_hh h`` through ``hidden_projection`` (every seqmodels
    cell except ``GRUCell(reset_after=False)``, whose reset gate acts inside that matmul: a
    ``ValueError`` says so on its first training step with ``hidden_dropout > 0``). Eval mode is the
    wrapped cell exactly.

    Args:
        cell: the wrapped cell or its factory (see :class:`~seqmodels.cells.wrapper.CellWrapper`).
        input_size, hidden_size: for the factory.
        input_dropout: p for x (0 disables).
        hidden_dropout: p for h in the recurrent matmul (0 disables).
    """

    def __init__(
        self,
        cell: CellFactory | RecurrentCell,
        input_size: int | None = None,
        hidden_size: int | None = None,
        input_dropout: float = 0.0,
        hidden_dropout: float = 0.0,
    ) -> None:
        super().__init__(cell, input_size, hidden_size)
        self.input_dropout = check_probability("input_dropout", input_dropout)
        self.hidden_dropout = check_probability("hidden_dropout", hidden_dropout)
        self.input_mask: Tensor | None = None  # (B, I) for the current sequences
        self.hidden_mask: Tensor | None = None  # (B, H)

    def sample_masks(self, batch_size: int, device: torch.device, dtype: torch.dtype) -> None:
        like = torch.empty((), device=device, dtype=dtype)
        self.input_mask = (
            dropout_mask((batch_size, self.input_size), self.input_dropout, like) if self.input_dropout else None
        )
        self.hidden_mask = (
            dropout_mask((batch_size, self.hidden_size), self.hidden_dropout, like) if self.hidden_dropout else None
        )

    def transform_input(self, x: Tensor) -> Tensor:
        if not self.training or self.input_mask is None:
            return x
        return x * self.input_mask  # (…, B, I) * (B, I): the same mask at every step

    def step(self, x_proj: Tensor, state: State) -> tuple[Tensor, State]:
        if not self.training or not self.hidden_dropout:
            return self.cell.step(x_proj, state)
        self.ensure_masks(x_proj.shape[0], x_proj)
        mask = self.hidden_mask
        assert mask is not None  # hidden_dropout > 0: drawn by ensure_masks -> sample_masks
        with recurrent_input_transform(self.base_cell(), lambda h: h * mask) as calls:
            out = self.cell.step(x_proj, state)
        if not calls:
            raise ValueError(
                f"VariationalDropout(hidden_dropout={self.hidden_dropout}) needs a cell whose step computes W_hh h "
                f"through hidden_projection(h); {type(self.base_cell()).__name__} does not "
                f"({self.base_cell().extra_repr()}). Use hidden_dropout=0 or WeightDrop for this cell."
            )
        return out

    def extra_repr(self) -> str:
        return f"input_dropout={self.input_dropout}, hidden_dropout={self.hidden_dropout}"
