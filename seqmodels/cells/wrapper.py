"""Cell wrappers: regularisers that wrap any cell and compose with each other.

A wrapper *is* a :class:`~seqmodels.cells.RecurrentCell` (every layer, model and config runs it) that
owns no weights of its own: ``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``, sizes, state and
initialisation are those of the cell inside, whose parameters appear under ``cell.`` in the
``state_dict``. Wrappers nest, e.g. ``WeightDrop(VariationalDropout(LayerNormLSTMCell))``.

**Masks drawn once per sequence.** Every layer calls ``input_projection`` once on the whole sequence
``(T, B, I)`` before its time loop (``Recurrent.unroll``); a wrapper takes that call as the start of
a new batch of sequences and draws its per-sequence masks there (training mode only). When you drive
a cell step by step yourself (``cell(x_t, state)`` with ``x_t`` (B, I)), call
:meth:`CellWrapper.new_sequence` before the first step of each batch of sequences; a step that finds
no masks for its batch size draws them. In eval mode no mask is drawn or used.

**Reaching inside a cell.** Regularisers of the recurrent matmul act on the innermost cell
(:meth:`CellWrapper.base_cell`): :func:`recurrent_input_transform` multiplies the ``h`` that enters
``hidden_projection`` (variational dropout), and :func:`step_with_weight` runs a step with another
``weight_hh`` tensor through ``torch.func.functional_call`` (weight drop). Neither changes a module
permanently, and neither touches torch's RNN modules or cuDNN weight buffers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
from torch import Tensor, nn

from .base import CellFactory, RecurrentCell, State


def dropout_mask(shape: tuple[int, ...], p: float, like: Tensor) -> Tensor:
    """Inverted-dropout mask of ``shape``: 0 with probability p, else 1/(1-p) (``like``'s dtype/device)."""
    keep = torch.empty(shape, dtype=like.dtype, device=like.device).bernoulli_(1.0 - p)
    return keep.div_(1.0 - p)


def build_cell(cell: CellFactory | RecurrentCell, input_size: int | None, hidden_size: int | None) -> RecurrentCell:
    """The wrapped cell: ``cell`` itself when it is a built cell, else ``cell(input_size=..., hidden_size=...)``."""
    if isinstance(cell, RecurrentCell):
        for name, value, have in (
            ("input_size", input_size, cell.input_size),
            ("hidden_size", hidden_size, cell.hidden_size),
        ):
            if value is not None and value != have:
                raise ValueError(f"{name}={value} differs from the wrapped cell's {name}={have}")
        return cell
    if not callable(cell):
        raise ValueError(
            f"cell must be a RecurrentCell or a factory cell(input_size=..., hidden_size=...), got {cell!r}"
        )
    if input_size is None or hidden_size is None:
        raise ValueError("input_size and hidden_size are required when cell is a factory")
    built = cell(input_size=input_size, hidden_size=hidden_size)
    if not isinstance(built, RecurrentCell):
        raise ValueError(f"cell(...) must return a seqmodels RecurrentCell, got {type(built).__name__}")
    return built


class CellWrapper(RecurrentCell):
    """Base of the wrappers: everything delegates to ``self.cell``.

    Args:
        cell: the cell to wrap, built (a :class:`RecurrentCell`) or a factory
            ``cell(input_size=..., hidden_size=...)`` (Hydra: a ``_partial_`` node).
        input_size, hidden_size: passed to the factory (checked against a built cell).

    Subclasses override :meth:`sample_masks` (draw per-sequence masks), :meth:`transform_input`
    (applied to x before the input projection) and :meth:`step`.
    """

    def __init__(
        self, cell: CellFactory | RecurrentCell, input_size: int | None = None, hidden_size: int | None = None
    ) -> None:
        nn.Module.__init__(self)  # no weights of its own: RecurrentCell.__init__ would create them
        self.cell = build_cell(cell, input_size, hidden_size)
        self.input_size = self.cell.input_size
        self.hidden_size = self.cell.hidden_size
        self.num_gates = self.cell.num_gates
        self.bias = self.cell.bias
        self._mask_batch: int | None = None  # batch size the current masks were drawn for

    # -------------------------------------------------------------- delegation
    weight_ih = property(lambda self: self.cell.weight_ih)
    weight_hh = property(lambda self: self.cell.weight_hh)
    bias_ih = property(lambda self: self.cell.bias_ih)
    bias_hh = property(lambda self: self.cell.bias_hh)

    def base_cell(self) -> RecurrentCell:
        """The innermost (non-wrapper) cell."""
        cell = self.cell
        while isinstance(cell, CellWrapper):
            cell = cell.cell
        return cell

    def reset_parameters(self) -> None:
        self.cell.reset_parameters()

    @property
    def state_size(self) -> int | tuple[int, ...]:
        return self.cell.state_size

    def init_state(
        self, batch_size: int, device: torch.device | None = None, dtype: torch.dtype | None = None
    ) -> State:
        return self.cell.init_state(batch_size, device, dtype)

    def hidden_projection(self, h: Tensor) -> Tensor:
        return self.cell.hidden_projection(h)

    # ------------------------------------------------------------------- masks
    def sample_masks(self, batch_size: int, device: torch.device, dtype: torch.dtype) -> None:
        """Draw this wrapper's per-sequence masks for ``batch_size`` sequences (none by default)."""

    def new_sequence(
        self, batch_size: int, device: torch.device | None = None, dtype: torch.dtype | None = None
    ) -> None:
        """Start a new batch of sequences: fresh masks here and in every wrapper inside (training only)."""
        if self.training:
            device = device if device is not None else self.weight_hh.device
            dtype = dtype if dtype is not None else self.weight_hh.dtype
            self.sample_masks(batch_size, device, dtype)
            self._mask_batch = batch_size
        if isinstance(self.cell, CellWrapper):
            self.cell.new_sequence(batch_size, device, dtype)

    def ensure_masks(self, batch_size: int, like: Tensor) -> None:
        """Draw masks when none were drawn for ``batch_size`` (a step called outside a layer)."""
        if self._mask_batch != batch_size:
            self.sample_masks(batch_size, like.device, like.dtype)
            self._mask_batch = batch_size

    def transform_input(self, x: Tensor) -> Tensor:
        """What the wrapper does to x (..., B, I) before the wrapped cell projects it (identity by default)."""
        return x

    def input_projection(self, x: Tensor) -> Tensor:
        """A whole sequence (T, B, I) starts new masks (training); then the wrapped cell's projection."""
        if self.training:
            if x.dim() >= 3:
                self.sample_masks(x.shape[-2], x.device, x.dtype)
                self._mask_batch = x.shape[-2]
            else:
                self.ensure_masks(x.shape[0], x)
        return self.cell.input_projection(self.transform_input(x))

    def step(self, x_proj: Tensor, state: State) -> tuple[Tensor, State]:
        return self.cell.step(x_proj, state)

    def extra_repr(self) -> str:
        return ""


# ---------------------------------------------------------------------------- reaching inside
@contextlib.contextmanager
def recurrent_input_transform(cell: RecurrentCell, fn: Callable[[Tensor], Tensor]) -> Iterator[list[int]]:
    """Within the block, ``cell.hidden_projection(h)`` computes ``hidden_projection(fn(h))``.

    Nested uses compose (the innermost applies first). Yields a list that counts the calls, so
    a caller can check that the cell's step did go through ``hidden_projection``.
    """
    calls: list[int] = []
    previous = cell.__dict__.get("hidden_projection")
    original = cell.hidden_projection  # the method, or an enclosing block's transform

    def transformed(h: Tensor) -> Tensor:
        calls.append(1)
        return original(fn(h))

    cell.__dict__["hidden_projection"] = transformed
    try:
        yield calls
    finally:
        if previous is None:
            del cell.__dict__["hidden_projection"]
        else:
            cell.__dict__["hidden_projection"] = previous


class _Step(nn.Module):
    """``forward = cell.step``, so that ``functional_call`` can run a step with swapped tensors."""

    def __init__(self, cell: RecurrentCell) -> None:
        super().__init__()
        self.cell = cell

    def forward(self, x_proj: Tensor, state: State) -> tuple[Tensor, State]:
        return self.cell.step(x_proj, state)


def step_with_weight(
    cell: RecurrentCell, name: str, weight: Tensor, x_proj: Tensor, state: State
) -> tuple[Tensor, State]:
    """``cell.step(x_proj, state)`` with the parameter called ``name`` (e.g. ``cell.weight_hh``,
    a path inside ``cell``) replaced by ``weight`` for this call only."""
    return torch.func.functional_call(_Step(cell), {f"cell.{name}": weight}, (x_proj, state))


def base_parameter_name(cell: RecurrentCell, name: str) -> str:
    """Path of the innermost cell's parameter ``name`` from ``cell`` (``cell.cell.weight_hh`` …)."""
    prefix = ""
    while isinstance(cell, CellWrapper):
        prefix += "cell."
        cell = cell.cell
    return prefix + name
