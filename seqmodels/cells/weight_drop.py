"""Weight drop (DropConnect on ``weight_hh``), the recurrent regulariser of AWD-LSTM."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from ..utils.checks import check_probability
from .base import RecurrentCell, State
from .variational import VariationalDropout
from .wrapper import CellFactory, CellWrapper, base_parameter_name, step_with_weight


class _Reweighted:
    """``cell`` seen with another ``weight_hh`` (every other attribute is the cell's)."""

    def __init__(self, cell: RecurrentCell, weight_hh: Tensor) -> None:
        self._cell = cell
        self.weight_hh = weight_hh

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cell, name)


class WeightDrop(CellWrapper):
    """DropConnect (Wan et al. 2013) on the recurrent weights, one mask per batch of sequences.

    Merity, Keskar & Socher, "Regularizing and Optimizing LSTM Language Models" (ICLR 2018)::

        W̃_hh = M ⊙ W_hh / (1 - p),   M ~ Bernoulli(1 - p) of shape (G*H, H), drawn once per forward
        every step:  pre_t = input_projection(x_t) + W̃_hh h_{t-1} + b_hh

    The same dropped matrix serves every step and every sequence of the batch (AWD-LSTM's choice:
    one mask per mini-batch keeps the recurrence a fixed linear map within a sequence). The step
    runs the wrapped cell with ``weight_hh`` replaced by W̃_hh for that call
    (``torch.func.functional_call``); the parameter itself is never reassigned or copied into a
    flattened buffer, so no "RNN module weights are not part of single contiguous chunk" warning
    can arise, and gradients reach ``weight_hh`` through the mask. Eval mode uses ``W_hh``
    unchanged (inverted dropout already has the right expectation).

    Works for every cell that reads ``self.weight_hh`` in its step (every seqmodels cell). Around an
    ``LSTMCell``, ``GRUCell`` or ``RNNCell`` (directly, or through ``VariationalDropout`` with
    ``hidden_dropout=0``) a layer runs the cell's fused sequence Function with W̃_hh
    (:meth:`fused_sequence`): weight drop then costs one elementwise product per batch.

    Args:
        cell: the wrapped cell or its factory (see :class:`~seqmodels.cells.wrapper.CellWrapper`).
        input_size, hidden_size: for the factory.
        weight_dropout: p, the probability that an entry of ``weight_hh`` is dropped
            (AWD-LSTM: 0.5 on PTB).
    """

    def __init__(
        self,
        cell: CellFactory | RecurrentCell,
        input_size: int | None = None,
        hidden_size: int | None = None,
        weight_dropout: float = 0.5,
    ) -> None:
        super().__init__(cell, input_size, hidden_size)
        self.weight_dropout = check_probability("weight_dropout", weight_dropout)
        self.weight_mask: Tensor | None = None  # (G*H, H) of 0 and 1/(1-p), for the current batch
        self._dropped: Tensor | None = None  # weight_hh * mask, computed once per sequence
        self._name = base_parameter_name(self.cell, "weight_hh")

    def sample_masks(self, batch_size: int, device: torch.device, dtype: torch.dtype) -> None:
        self.weight_mask = nn.functional.dropout(torch.ones_like(self.weight_hh), self.weight_dropout, training=True)
        self._dropped = None  # computed from the current weight on the sequence's first step

    def dropped_weight(self) -> Tensor:
        """W̃_hh for the current batch (a fresh product, so that it follows optimizer updates)."""
        return self.weight_hh * self.weight_mask

    def input_projection(self, x: Tensor) -> Tensor:
        out = super().input_projection(x)
        if self.training and self.weight_dropout:
            # a sequence (T, B, I): one product for all its steps; a single step: recomputed in step()
            self._dropped = self.dropped_weight() if x.dim() >= 3 else None
        return out

    def step(self, x_proj: Tensor, state: State) -> tuple[Tensor, State]:
        if not self.training or not self.weight_dropout:
            return self.cell.step(x_proj, state)
        if self.weight_mask is None:
            self.ensure_masks(x_proj.shape[0], x_proj)
        weight = self._dropped
        if weight is None:  # a step outside a layer's sequence: recompute, never reuse a stale graph
            weight = self.dropped_weight()
        return step_with_weight(self.cell, self._name, weight, x_proj, state)

    def fused_sequence(self, lookup: Callable[[RecurrentCell], Callable | None]) -> Callable | None:
        """The innermost cell's fused sequence Function run with W̃_hh, or None when a wrapper in between
        needs per-step work (anything but ``VariationalDropout(hidden_dropout=0)``) or the cell has none.

        ``lookup`` is the layers' :func:`~seqmodels.layers.backends.fused_sequence`, which finds the
        innermost cell's Function (the layers call this method; the cells never import the layers)."""
        base = self.base_cell()
        base_fn = lookup(base)
        chain, cell = [], self.cell
        while isinstance(cell, CellWrapper):
            if type(cell) is not VariationalDropout or cell.hidden_dropout:
                return None
            chain.append(cell)
            cell = cell.cell
        if base_fn is None:
            return None

        def run(_: RecurrentCell, x: Tensor, state: State, mask: Tensor | None) -> tuple[Tensor, State]:
            self.new_sequence(x.shape[1], x.device, x.dtype)  # masks here and in the chain (training only)
            for wrapper in chain:
                x = wrapper.transform_input(x)  # (T, B, I): variational input masks
            weight = self.dropped_weight() if self.training and self.weight_dropout else base.weight_hh
            return base_fn(_Reweighted(base, weight), x, state, mask)

        return run

    def train(self, mode: bool = True) -> WeightDrop:
        self._dropped = None
        return super().train(mode)

    def extra_repr(self) -> str:
        return f"weight_dropout={self.weight_dropout}"
