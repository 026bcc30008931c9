"""Which code runs a recurrence: our own (``custom``), torch's fused kernels (``torch``), or ``auto``.

* ``custom`` — seqmodels' recurrence, for any cell. For :class:`~seqmodels.cells.LSTMCell`,
  :class:`~seqmodels.cells.GRUCell` (``reset_after=True``) and :class:`~seqmodels.cells.RNNCell`
  (exact types: a subclass that overrides ``step`` gets the generic loop) it is the sequence-level
  autograd Function of :mod:`seqmodels.kernels` (one file per cell), with the hand-written BPTT; every other
  cell runs the generic step loop under autograd.
* ``torch`` — ``torch.lstm`` / ``torch.gru`` / ``torch.rnn_tanh`` / ``torch.rnn_relu``: oneDNN or
  ATen on CPU, cuDNN on CUDA, on our cells' own parameters (no copy). Only for stacks whose cells
  are all exactly those three torch-equal cells with the same options; anything else is a
  ``ValueError`` saying why.
* ``auto`` — the fastest correct choice, a fixed rule read off ``seqmodels-bench`` (the measurement
  behind each case: ``docs/PERFORMANCE.md``, "The figures behind auto's rule") so that a run never
  depends on timings: on CUDA torch's kernel (cuDNN) whenever it can run the stack. On CPU in float32
  with the fused C kernels of
  :mod:`seqmodels.kernels.loader` (the usual case): torch's kernel (oneDNN) for LSTM inference and
  for full-length LSTM training batches with fewer than 8192 state elements per step (B·H: our loop's
  per-step overhead outweighs its gains there, e.g. B 20, H 200), ``custom`` for everything else.
  Without them: when autograd records the call (training), ``custom``
  for batches with sequences shorter than T (torch's backward through a packed batch is several times
  slower than ours), else torch's kernel for LSTM and for GRU batches of 48 or more. ``custom`` in every other
  case — RNN, small-batch GRU, float64, and every cell torch cannot run.

Under ``torch.compile`` a batch with lengths runs on ``custom`` whatever the backend: torch's kernels need it
packed, and packing cannot be traced.

Under ``torch.autocast`` (mixed precision) ``custom`` runs outside it, in the cells' weight dtype, so its
results are the float32 ones; ``torch`` follows autocast (bfloat16 or float16 outputs and states). Either
takes the other's state: under autocast a state's floating dtype may differ from the input's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol, cast

import torch
from torch import Tensor

from ..cells.base import RecurrentCell, State
from ..cells.gru import GRUCell
from ..cells.lstm import LSTMCell
from ..cells.rnn import RNNCell
from ..kernels import gru_sequence, lstm_sequence, needs_grad, rnn_sequence
from ..kernels import loader as native
from ..kernels.dropout import dropout as hashed_dropout
from ..kernels.dropout import hashed_dropout_applies
from ..utils.transfer import to_device_nowait

BACKENDS = ("auto", "custom", "torch")


def check_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {list(BACKENDS)}, got {backend!r}")
    return backend


# ------------------------------------------------------------------------------------- custom
def _lstm(cell: LSTMCell, x: Tensor, state: tuple[Tensor, Tensor], mask: Tensor | None):
    h0, c0 = state
    return lstm_sequence(x, h0, c0, cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh, mask)


def _gru(cell: GRUCell, x: Tensor, state: Tensor, mask: Tensor | None):
    return gru_sequence(x, state, cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh, mask)


def _rnn(cell: RNNCell, x: Tensor, state: Tensor, mask: Tensor | None):
    return rnn_sequence(
        x, state, cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh, mask, nonlinearity=cell.nonlinearity
    )


# (cell, x, state, mask) -> (output, final state); the cell is an instance of the class it is keyed by in _FUSED
FusedFn = Callable[[Any, Tensor, State, "Tensor | None"], "tuple[Tensor, State]"]
_FUSED: dict[type[RecurrentCell], FusedFn] = {LSTMCell: _lstm, GRUCell: _gru, RNNCell: _rnn}


class _OffersFusedSequence(Protocol):
    def fused_sequence(self, lookup: Callable[[RecurrentCell], FusedFn | None]) -> FusedFn | None: ...


def fused_sequence(cell: RecurrentCell) -> FusedFn | None:
    """The sequence-level Function for ``cell``'s exact type, or ``None`` (generic loop).

    A cell may offer its own through a method ``fused_sequence(lookup)`` returning such a function or
    None; it is handed this function as ``lookup`` for the cells it wraps (e.g.
    :class:`~seqmodels.cells.WeightDrop` runs the wrapped LSTM/GRU/RNN's with the dropped weight).
    """
    if hasattr(type(cell), "fused_sequence"):
        return cast(_OffersFusedSequence, cell).fused_sequence(fused_sequence)
    fn = _FUSED.get(type(cell))
    if fn is None or (isinstance(cell, GRUCell) and not cell.reset_after):
        return None
    return fn


# -------------------------------------------------------------------------------------- torch
def all_full_length(lengths: Tensor | None, seq_len: int) -> bool:
    """Whether every sequence is ``seq_len`` long (no lengths: yes). It reads the values, so it is never asked
    under ``torch.compile`` / ``torch.export``: a batch with lengths takes ``custom`` there (:func:`uses_torch`)."""
    return lengths is None or int(lengths.min()) == seq_len


class PackedOnHost(NamedTuple):
    """A padded batch packed for torch's kernels, sorted by the lengths on the host.

    ``torch.nn.utils.rnn``'s packing makes the host wait for the GPU twice: it copies its sorting order up with a
    blocking copy, and ``pad_packed_sequence`` copies the order back down to reorder the lengths it returns.
    Here the order and its inverse are computed on the host and sent up without waiting
    (:func:`~seqmodels.utils.transfer.to_device_nowait`); the packing and unpacking are torch's own kernels, the
    ones those functions call, and the result is the same.

    Fields: ``data`` (N, I), the real steps, time-major, of the sequences sorted by decreasing length;
    ``batch_sizes`` (T',) on the host, the sequences still running at each step; ``order`` (B,) on the input's
    device, the sorted position's original row; ``unorder`` (B,) its inverse.
    """

    data: Tensor
    batch_sizes: Tensor
    order: Tensor
    unorder: Tensor

    @classmethod
    def pack(cls, x: Tensor, lengths: Tensor) -> PackedOnHost:
        """Pack x (T, B, I) by ``lengths`` (B,), int64 on the host."""
        sorted_lengths, order = torch.sort(lengths, descending=True)
        unorder = torch.empty_like(order)
        unorder[order] = torch.arange(order.numel())
        order, unorder = to_device_nowait(order, x.device), to_device_nowait(unorder, x.device)
        data, batch_sizes = torch._VF._pack_padded_sequence(x.index_select(1, order), sorted_lengths, False)
        return cls(data, batch_sizes, order, unorder)

    def unpack(self, data: Tensor, total_length: int) -> Tensor:
        """``data`` laid out as :attr:`data` (e.g. a kernel's output) back to (total_length, B, F), zero past each
        length, in the original row order."""
        padded, _ = torch._VF._pad_packed_sequence(data, self.batch_sizes, False, 0.0, total_length)
        return padded.index_select(1, self.unorder)


def torch_kernel(cells: Sequence[RecurrentCell]) -> tuple[Callable, bool] | str:
    """``(torch function, is_lstm)`` for a stack of cells, or the reason torch cannot run it."""
    kinds = {type(c) for c in cells}
    if len(kinds) != 1 or next(iter(kinds)) not in _FUSED:
        names = sorted(k.__name__ for k in kinds)
        return f"torch's kernels run only LSTMCell, GRUCell and RNNCell stacks, got {names}"
    first = cells[0]
    if len({c.bias for c in cells}) != 1:
        return "torch's kernels need the same bias setting in every layer"
    if isinstance(first, GRUCell):
        if not all(c.reset_after for c in cells):
            return "torch's GRU kernel has the reset gate after the matmul only (reset_after=True)"
        return torch.gru, False
    if isinstance(first, RNNCell):
        if len({c.nonlinearity for c in cells}) != 1:
            return "torch's RNN kernel needs one nonlinearity in every layer"
        return (torch.rnn_tanh if first.nonlinearity == "tanh" else torch.rnn_relu), False
    return torch.lstm, True


def torch_forward(
    cells: Sequence[RecurrentCell],
    num_layers: int,
    bidirectional: bool,
    x: Tensor,
    state: Sequence[State] | None,
    lengths: Tensor | None,
    dropout: float,
    training: bool,
) -> tuple[Tensor, list[State]]:
    """Run a stack with torch's fused kernel on the cells' own parameters.

    Shapes: x (T, B, I); ``state`` Stacked's list of L*D cell states; returns (T, B, D*H) and
    the list of final states. Raises ``ValueError`` when the stack is not torch-equal. With dropout between
    layers in training on CPU, each layer is one kernel call and the dropout between them is
    :func:`~seqmodels.kernels.dropout.dropout` (torch's own dropout inside its kernel draws a Bernoulli
    tensor, ~1 ms per PTB word-model activation); otherwise the whole stack is one call.
    """
    kernel = torch_kernel(cells)
    if isinstance(kernel, str):
        raise ValueError(f"backend='torch' cannot run this stack: {kernel}; use backend='custom' or 'auto'")
    fn, is_lstm = kernel
    first = cells[0]
    B = x.shape[1]
    weights = []
    for c in cells:
        weights += [c.weight_ih, c.weight_hh] + ([c.bias_ih, c.bias_hh] if first.bias else [])
    if state is None:
        zeros = x.new_zeros(len(cells), B, first.hidden_size)
        hx = (zeros, zeros) if is_lstm else zeros
    elif is_lstm:
        hx = (torch.stack([s[0] for s in state]), torch.stack([s[1] for s in state]))  # (L*D, B, H) each
    else:
        hx = torch.stack(list(state))  # (L*D, B, H)
    if lengths is not None and all_full_length(lengths, x.shape[0]):
        lengths = None  # every sequence is full length: the unpacked kernel gives the same, without packing
    packed = None
    if lengths is not None:
        packed = PackedOnHost.pack(x, lengths)
        if isinstance(hx, tuple):  # LSTM
            hx = (hx[0].index_select(1, packed.order), hx[1].index_select(1, packed.order))
        else:
            hx = hx.index_select(1, packed.order)

    def call(data: Tensor, hx: Any, weights: Sequence[Tensor], layers: int, p: float) -> tuple[Tensor, ...]:
        if packed is None:
            return fn(data, hx, weights, first.bias, layers, p, training, bidirectional, False)
        return fn(data, packed.batch_sizes, hx, weights, first.bias, layers, p, training, bidirectional)

    data = x if packed is None else packed.data
    if training and dropout > 0.0 and num_layers > 1 and hashed_dropout_applies(data):
        directions = 2 if bidirectional else 1
        per_layer = len(weights) // num_layers
        finals = []
        for layer in range(num_layers):
            if layer > 0:
                data = hashed_dropout(data, dropout, training)
            rows = slice(layer * directions, (layer + 1) * directions)
            layer_hx = (hx[0][rows], hx[1][rows]) if isinstance(hx, tuple) else hx[rows]
            data, *layer_final = call(data, layer_hx, weights[layer * per_layer : (layer + 1) * per_layer], 1, 0.0)
            finals.append(layer_final)
        final = [torch.cat(parts) for parts in zip(*finals)]
    else:
        data, *final = call(data, hx, weights, num_layers, dropout)
    if packed is None:
        out = data
    else:
        out = packed.unpack(data, x.shape[0])
        final = [f.index_select(1, packed.unorder) for f in final]
    if is_lstm:
        h_n, c_n = final
        return out, [(h, c) for h, c in zip(h_n.unbind(0), c_n.unbind(0))]
    return out, list(final[0].unbind(0))


# --------------------------------------------------------------------------------------- auto
# auto's thresholds, each set between shapes where the two choices measured faster in turn (the figures:
# docs/PERFORMANCE.md, "The figures behind auto's rule").
# CPU GRU without the C kernels: ATen's kernel from this batch size on, where it is faster; ours below.
AUTO_TORCH_GRU_MIN_BATCH = 48
# CPU LSTM training at full length with the C kernels: ours from this many state elements per step (B·H) on;
# oneDNN below, where our loop's per-step overhead outweighs what its C time loop saves.
AUTO_CUSTOM_LSTM_MIN_STATE = 8192


def auto_uses_torch(cells: Sequence[RecurrentCell], x: Tensor, lengths: Tensor | None = None) -> bool:
    """``auto``'s rule for a stack on input x (T, B, I) with optional lengths (B,); see the module docstring."""
    if isinstance(torch_kernel(cells), str):
        return False
    if x.is_cuda:
        return True
    if x.dtype != torch.float32 or isinstance(cells[0], RNNCell):
        return False
    has_kernels = native.kernels(x) is not None
    if needs_grad(x, *(p for c in cells for p in c.parameters())):  # training
        # torch's backward through a packed batch (sequences shorter than T) is several times slower than
        # ours; with the fused C kernels ours also wins at full length, except oneDNN's LSTM below
        # AUTO_CUSTOM_LSTM_MIN_STATE
        if not all_full_length(lengths, x.shape[0]):
            return False
        if has_kernels:
            small_lstm = x.shape[1] * cells[0].hidden_size < AUTO_CUSTOM_LSTM_MIN_STATE
            return isinstance(cells[0], LSTMCell) and small_lstm
    if isinstance(cells[0], LSTMCell):
        return True  # oneDNN's LSTM inference
    # GRU: ours with the C kernels (faster at every measured shape); without them ATen's from
    # AUTO_TORCH_GRU_MIN_BATCH on
    return not has_kernels and x.shape[1] >= AUTO_TORCH_GRU_MIN_BATCH


def uses_torch(backend: str, cells: Sequence[RecurrentCell], x: Tensor, lengths: Tensor | None = None) -> bool:
    """Whether ``backend`` runs these cells on torch's kernel (``"torch"`` always tries to, except for a batch
    with lengths under ``torch.compile``, whose packing cannot be traced: ``custom``'s masked loop runs it, with
    the same numbers)."""
    if lengths is not None and torch.compiler.is_compiling():
        return False
    if backend == "torch":
        return True
    return backend == "auto" and auto_uses_torch(cells, x, lengths)
