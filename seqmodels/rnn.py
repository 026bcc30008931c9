"""Drop-in replacements for ``torch.nn.RNN``, ``torch.nn.GRU`` and ``torch.nn.LSTM``.

Same constructor, same ``forward(input, hx) -> (output, h_n)`` with torch's shapes, and the
same numbers (to float64 rounding) — but built from seqmodels cells, so any cell runs here::

    lstm = seqmodels.LSTM(32, 64, num_layers=2, bidirectional=True)       # as torch.nn.LSTM
    gru = seqmodels.GRU(32, 64, reset_after=False)                         # the textbook GRU
    net = seqmodels.RNN(32, 64, cell=functools.partial(MyCell, k=3))      # any RecurrentCell

Shapes (L layers, D = 2 if bidirectional else 1, S = each state tensor's size, H for torch's cells):

    input   (T, B, I), or (B, T, I) with batch_first, or (T, I) unbatched, or a PackedSequence
    output  (T, B, D*H), (B, T, D*H), (T, D*H), or a PackedSequence like the input's
    hx/h_n  (L*D, B, S) — (L*D, S) unbatched — for a cell whose state is one tensor (RNN, GRU);
            a tuple of such tensors for a tuple state, e.g. LSTM's ``(h_n, c_n)``.
            Slice ``l*D + d`` is layer l's direction d (0 forward, 1 reverse), as torch.

Variable lengths: pass ``lengths`` (B,) with a padded input, or a PackedSequence. Outputs past a
sequence's end are zero, ``h_n`` holds each sequence's state at its last real step and the reverse
direction starts there; the result equals torch on ``pack_padded_sequence(..., enforce_sorted=False)``.
For a PackedSequence, ``hx`` and ``h_n`` are in the original batch order (torch's convention).

``from_torch(module)`` and ``to_torch()`` move weights both ways exactly (see :mod:`seqmodels.interop`).
The parameters of torch's names (``weight_ih_l0``, ``bias_hh_l1_reverse`` …) are also readable
as attributes, so code that initialises ``lstm.weight_hh_l0`` keeps working.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any, cast

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from . import interop
from .cells.base import CellFactory, RecurrentCell, State
from .cells.gru import GRUCell
from .cells.lstm import LSTMCell
from .cells.rnn import NONLINEARITIES, RNNCell
from .layers.backends import check_backend
from .layers.stacked import Stacked
from .utils.checks import check_positive_int, check_probability
from .utils.state import map_state


class RNNBase(nn.Module):
    """The shared body of :class:`RNN`, :class:`GRU` and :class:`LSTM`: a :class:`Stacked` of
    cells built by ``cell(input_size=, hidden_size=)``, with torch's calling convention.

    Args:
        cell: factory ``cell(input_size=..., hidden_size=...) -> RecurrentCell``, called once per
            layer and direction. Every cell must have the same ``state_size``.
        input_size: I.   hidden_size: H.   num_layers: L.
        batch_first: input and output are (B, T, ·); ``hx``/``h_n`` stay (L*D, B, S) as in torch.
        dropout: probability of dropping each layer's output except the last's, in training.
        bidirectional: D = 2 directions per layer.
        device, dtype: where the parameters are created (as torch's ``factory_kwargs``).
        backend: ``"auto"`` (default; the fastest correct choice), ``"custom"`` (our recurrence,
            any cell) or ``"torch"`` (torch's fused kernel; torch-equal cells only). Same weights,
            same results within float tolerance; see :mod:`seqmodels.layers.backends`.

    ``forward(input, hx=None, lengths=None) -> (output, h_n)``; shapes in the module docstring.
    """

    torch_class: type[nn.RNNBase] | None = None  # the torch module the subclass replaces

    def __init__(
        self,
        cell: CellFactory,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        backend: str = "auto",
    ) -> None:
        super().__init__()
        check_positive_int("input_size", input_size)
        check_positive_int("hidden_size", hidden_size)
        check_positive_int("num_layers", num_layers)
        check_probability("dropout", dropout)
        for name, flag in (("batch_first", batch_first), ("bidirectional", bidirectional)):
            if not isinstance(flag, bool):
                raise ValueError(f"{name} must be True or False, got {flag!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                f"dropout={dropout} acts between recurrent layers only, so with num_layers=1 it does nothing",
                UserWarning,
                stacklevel=2,
            )
        self.stack = Stacked(
            cell, input_size, hidden_size, num_layers, bidirectional, dropout, batch_first=batch_first, backend=backend
        )
        sizes = {repr(c.state_size) for c in self.stack.cells()}
        if len(sizes) != 1:
            raise ValueError(f"all cells must have the same state_size to stack h_n, got {sorted(sizes)}")
        if device is not None or dtype is not None:
            self.to(device=device, dtype=dtype)

    # ------------------------------------------------------------ torch's attributes
    @property
    def input_size(self) -> int:
        return self.stack.input_size

    @property
    def hidden_size(self) -> int:
        return self.stack.hidden_size

    @property
    def num_layers(self) -> int:
        return self.stack.num_layers

    @property
    def bidirectional(self) -> bool:
        return self.stack.bidirectional

    @property
    def batch_first(self) -> bool:
        """Whether ``input`` and ``output`` are (B, T, ·); the stack does the layout. Settable."""
        return self.stack.batch_first

    @batch_first.setter
    def batch_first(self, value: bool) -> None:
        self.stack.batch_first = value

    @property
    def num_directions(self) -> int:
        return self.stack.num_directions

    @property
    def backend(self) -> str:
        """``"auto"``, ``"custom"`` or ``"torch"``: which code runs the recurrence
        (see :mod:`seqmodels.layers.backends`); settable."""
        return self.stack.backend

    @backend.setter
    def backend(self, value: str) -> None:
        self.stack.backend = check_backend(value)

    @property
    def dropout(self) -> float:
        return self.stack.dropout

    @dropout.setter
    def dropout(self, value: float) -> None:
        self.stack.dropout = check_probability("dropout", value)

    @property
    def bias(self) -> bool:
        return all(c.bias for c in self.stack.cells())

    @property
    def output_size(self) -> int:
        """D*H, the feature size of ``output``."""
        return self.stack.output_size

    def cells(self) -> list[RecurrentCell]:
        """The L*D cells in torch's order: layer-major, forward before reverse."""
        return self.stack.cells()

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            parsed = interop.parse_torch_param_name(name)
            if parsed is None:
                raise
            param, layer, direction = parsed
            if layer >= self.num_layers or direction >= self.num_directions:
                raise
            value = getattr(self.cells()[layer * self.num_directions + direction], param)
            if value is None:  # bias=False: torch has no such attribute either
                raise
            return value

    # ------------------------------------------------------------------ forward
    def forward(
        self, input: Tensor | PackedSequence, hx: State | None = None, lengths: Tensor | None = None
    ) -> tuple[Tensor | PackedSequence, State]:
        """Run the stack; see the module docstring for shapes.

        Args:
            input: (T, B, I), (B, T, I) with ``batch_first``, (T, I) unbatched, or a PackedSequence.
            hx: initial state(s), (L*D, B, S) per state tensor; zeros when None.
            lengths: (B,) integer lengths in [1, T] of a padded input; not with a PackedSequence
                or an unbatched input.

        Returns:
            ``(output, h_n)``: output as the input's layout with D*H features; h_n like ``hx``.
        """
        if isinstance(input, PackedSequence):
            return self._forward_packed(input, hx, lengths)
        if not isinstance(input, Tensor):
            raise ValueError(f"input must be a Tensor or PackedSequence, got {type(input).__name__}")
        if input.dim() not in (2, 3):
            raise ValueError(
                f"input must be 3-D ({'batch, seq' if self.batch_first else 'seq, batch'}, features) or "
                f"2-D (seq, features) unbatched, got shape {tuple(input.shape)}"
            )
        if input.shape[-1] != self.input_size:
            raise ValueError(
                f"input has {input.shape[-1]} features (shape {tuple(input.shape)}), expected input_size={self.input_size}"
            )
        batched = input.dim() == 3
        if not batched and lengths is not None:
            raise ValueError("lengths must be None for an unbatched (2-D) input")
        batch_dim = 0 if self.batch_first else 1
        x = input if batched else input.unsqueeze(batch_dim)  # a batch of one
        state = self._unstack_hx(hx, batch_size=x.shape[batch_dim], unbatched=not batched)
        output, final = self.stack(x, state, lengths)  # the input's layout, D*H features
        h_n = self._stack_states(final)
        if batched:
            return output, h_n
        return output.squeeze(batch_dim), map_state(lambda t: t.squeeze(1), h_n)

    def _forward_packed(
        self, packed: PackedSequence, hx: State | None, lengths: Tensor | None
    ) -> tuple[PackedSequence, State]:
        """Unpack, run with lengths (original batch order), repack with the input's indices."""
        if lengths is not None:
            raise ValueError("lengths must be None for a PackedSequence input (it carries its own)")
        batch_dim = 0 if self.batch_first else 1
        # (T, B, I) or (B, T, I) as the stack expects; lengths (B,) on CPU, original order
        x, seq_lengths = pad_packed_sequence(packed, batch_first=self.batch_first)
        if x.shape[-1] != self.input_size:
            raise ValueError(f"input has {x.shape[-1]} features, expected input_size={self.input_size}")
        state = self._unstack_hx(hx, batch_size=x.shape[batch_dim], unbatched=False)
        output, final = self.stack(x, state, seq_lengths)  # D*H features
        if packed.sorted_indices is not None:
            order = packed.sorted_indices
            output = output.index_select(batch_dim, order)  # in decreasing-length order
            seq_lengths = seq_lengths[order.cpu()]
        repacked = pack_padded_sequence(output, seq_lengths, batch_first=self.batch_first, enforce_sorted=True)
        out = PackedSequence(repacked.data, repacked.batch_sizes, packed.sorted_indices, packed.unsorted_indices)
        return out, self._stack_states(final)

    # --------------------------------------------------------------- states
    def _unstack_hx(self, hx: State | None, batch_size: int, unbatched: bool) -> list[State] | None:
        """torch-shaped ``hx`` -> Stacked's list of L*D cell states, after checking its shape."""
        if hx is None:
            return None
        n = self.num_layers * self.num_directions
        lead = (n,) if unbatched else (n, batch_size)
        self._check_hx(hx, self.cells()[0].state_size, lead, "hx")
        if unbatched:
            hx = map_state(lambda t: t.unsqueeze(1), hx)  # (L*D, 1, S)
        return [map_state(lambda t, i=i: t[i], hx) for i in range(n)]

    @classmethod
    def _check_hx(cls, hx: Any, size: Any, lead: tuple[int, ...], name: str) -> None:
        if isinstance(size, int):
            expected = (*lead, size)
            if not isinstance(hx, Tensor) or tuple(hx.shape) != expected:
                got = tuple(hx.shape) if isinstance(hx, Tensor) else type(hx).__name__
                raise ValueError(f"{name} must have shape {expected}, got {got}")
            return
        if not isinstance(hx, (tuple, list)) or len(hx) != len(size):
            raise ValueError(
                f"{name} must be a tuple of {len(size)} tensors, got {type(hx).__name__}"
                + (f" of length {len(hx)}" if isinstance(hx, (tuple, list)) else "")
            )
        for k, (part, part_size) in enumerate(zip(hx, size)):
            cls._check_hx(part, part_size, lead, f"{name}[{k}]")

    @staticmethod
    def _stack_states(final: Sequence[State]) -> State:
        """Stacked's list of L*D states -> one (L*D, B, S) tensor per state entry."""
        return map_state(lambda *parts: torch.stack(parts), *final)

    # ------------------------------------------------------------------ interop
    @classmethod
    def _torch_kwargs(cls, module: nn.Module) -> dict[str, Any]:
        """Constructor kwargs of ``cls`` beyond the common ones, read off a torch module."""
        return {}

    @classmethod
    def from_torch(cls, module: nn.Module) -> RNNBase:
        """A copy of torch ``module`` (an instance of ``cls.torch_class``): weights bit for bit,
        device, dtype, batch_first, dropout, bias, train/eval mode."""
        if cls.torch_class is None:
            raise ValueError(f"{cls.__name__} has no torch counterpart; use RNN, GRU or LSTM.from_torch")
        if not isinstance(module, cls.torch_class):
            raise ValueError(
                f"{cls.__name__}.from_torch needs a torch.nn.{cls.torch_class.__name__}, got {type(module).__name__}"
            )
        interop.check_torch_rnn(module)
        p = next(module.parameters())
        # only RNN, GRU and LSTM (torch_class set) get here, and their constructors are torch's
        build = cast(Callable[..., RNNBase], cls)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # torch has already warned about dropout
            net = build(
                module.input_size,
                module.hidden_size,
                module.num_layers,
                bias=module.bias,
                batch_first=module.batch_first,
                dropout=float(module.dropout),
                bidirectional=module.bidirectional,
                device=p.device,
                dtype=p.dtype,
                **cls._torch_kwargs(module),
            )
        interop.load_from_torch(net.cells(), module)
        return net.train(module.training)

    def torch_state_dict(self) -> dict[str, Tensor]:
        """The weights under torch's names (``weight_ih_l0`` …), loadable by the equal torch module."""
        return interop.state_dict_to_torch(self.cells(), self.num_layers, self.bidirectional)

    def load_torch_state_dict(self, state_dict: dict[str, Tensor]) -> None:
        """Load a ``torch.nn.RNN/GRU/LSTM`` state dict (e.g. a checkpoint's), strictly; ``ValueError``
        names missing or unexpected keys and mismatched shapes."""
        interop.load_state_dict_from_torch(self.cells(), state_dict, self.num_layers, self.bidirectional)

    def to_torch(self) -> nn.Module:
        """The equal ``torch.nn.RNN/GRU/LSTM``: same weights, device, dtype, options and mode.

        Raises ``ValueError`` when a cell has no torch equivalent (``GRU(reset_after=False)``,
        a custom ``cell=``).
        """
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # the dropout warning was given at construction
            module = interop.layer_to_torch(
                self.cells(), self.num_layers, self.bidirectional, self.batch_first, self.dropout
            )
        return module.train(self.training)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


def _cell_or_default(cell: CellFactory | None, default: CellFactory, **non_defaults: bool) -> CellFactory:
    """``cell`` when given (then the default cell's own options must stay at their defaults)."""
    if cell is None:
        return default
    given = [name for name, is_set in non_defaults.items() if is_set]
    if given:
        raise ValueError(
            f"{' and '.join(given)} only configure the default cell, so they cannot be combined with "
            f"cell={cell!r}; pass them to the factory instead, e.g. functools.partial(MyCell, bias=False)"
        )
    if not callable(cell):
        raise ValueError(f"cell must be a cell class or factory, got {cell!r}")
    return cell


class RNN(RNNBase):
    """Elman RNN, ``h_t = φ(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``, drop-in for ``torch.nn.RNN``.

    Args as ``torch.nn.RNN`` (``nonlinearity`` "tanh" or "relu"), plus ``cell``: a factory
    replacing :class:`~seqmodels.cells.RNNCell` (then ``nonlinearity`` and ``bias`` must keep
    their defaults; configure the factory). See :class:`RNNBase` for shapes.
    """

    torch_class = nn.RNN

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        cell: CellFactory | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        backend: str = "auto",
    ) -> None:
        if nonlinearity not in NONLINEARITIES:
            raise ValueError(f"nonlinearity must be one of {sorted(NONLINEARITIES)}, got {nonlinearity!r}")
        factory = _cell_or_default(
            cell,
            lambda input_size, hidden_size: RNNCell(input_size, hidden_size, bias, nonlinearity),
            bias=bias is not True,
            nonlinearity=nonlinearity != "tanh",
        )
        self.nonlinearity = nonlinearity
        super().__init__(
            factory, input_size, hidden_size, num_layers, batch_first, dropout, bidirectional, device, dtype, backend
        )

    @classmethod
    def _torch_kwargs(cls, module: nn.Module) -> dict[str, Any]:
        return {"nonlinearity": module.nonlinearity}

    def extra_repr(self) -> str:
        return super().extra_repr() + (f", nonlinearity={self.nonlinearity!r}" if self.nonlinearity != "tanh" else "")


class GRU(RNNBase):
    """Gated recurrent unit, drop-in for ``torch.nn.GRU``.

    Args as ``torch.nn.GRU``, plus ``reset_after`` (True: torch's form, reset gate after the
    hidden matmul; False: the textbook form, see :class:`~seqmodels.cells.GRUCell`; it has no
    torch equivalent, so ``to_torch`` raises) and ``cell`` (a factory replacing ``GRUCell``; then
    ``bias`` and ``reset_after`` must keep their defaults). See :class:`RNNBase` for shapes.
    """

    torch_class = nn.GRU

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        reset_after: bool = True,
        cell: CellFactory | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        backend: str = "auto",
    ) -> None:
        factory = _cell_or_default(
            cell,
            lambda input_size, hidden_size: GRUCell(input_size, hidden_size, bias, reset_after),
            bias=bias is not True,
            reset_after=reset_after is not True,
        )
        self.reset_after = reset_after
        super().__init__(
            factory, input_size, hidden_size, num_layers, batch_first, dropout, bidirectional, device, dtype, backend
        )

    def extra_repr(self) -> str:
        return super().extra_repr() + ("" if self.reset_after else ", reset_after=False")


class LSTM(RNNBase):
    """Long short-term memory, drop-in for ``torch.nn.LSTM`` (without ``proj_size``).

    ``hx`` and ``h_n`` are ``(h, c)`` pairs, each (L*D, B, H). Args as ``torch.nn.LSTM``, plus
    ``cell`` (a factory replacing :class:`~seqmodels.cells.LSTMCell`, e.g.
    ``functools.partial(LSTMCell, forget_bias=1.0)``; then ``bias`` must stay True).
    See :class:`RNNBase` for shapes.
    """

    torch_class = nn.LSTM

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        cell: CellFactory | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        backend: str = "auto",
    ) -> None:
        factory = _cell_or_default(
            cell,
            lambda input_size, hidden_size: LSTMCell(input_size, hidden_size, bias),
            bias=bias is not True,
        )
        super().__init__(
            factory, input_size, hidden_size, num_layers, batch_first, dropout, bidirectional, device, dtype, backend
        )
