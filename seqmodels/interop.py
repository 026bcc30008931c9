"""Weights between torch's recurrent modules and seqmodels cells, with no loss.

seqmodels cells hold torch's own tensors (``weight_ih (G*H, I)``, ``weight_hh (G*H, H)``,
``bias_ih``, ``bias_hh``, gate order as torch), so moving weights is renaming, never reshaping.

Layers (``torch.nn.RNN/GRU/LSTM`` <-> a list of L*D cells, layer-major, forward before reverse,
the order of :meth:`seqmodels.layers.Stacked.cells`)::

    cell l*D + d  .weight_ih   <->  weight_ih_l{l}{s}       s = ""          for d = 0 (forward)
    cell l*D + d  .weight_hh   <->  weight_hh_l{l}{s}       s = "_reverse"  for d = 1 (reverse)
    cell l*D + d  .bias_ih     <->  bias_ih_l{l}{s}         (only with bias=True)
    cell l*D + d  .bias_hh     <->  bias_hh_l{l}{s}

Cells (``torch.nn.RNNCell/GRUCell/LSTMCell`` <-> ``RNNCell/GRUCell/LSTMCell``): same names.

Equivalences (anything else has no torch counterpart and raises ``ValueError`` on export):

    RNNCell(nonlinearity=φ)       <->  nn.RNNCell(nonlinearity=φ),  nn.RNN(nonlinearity=φ)
    GRUCell(reset_after=True)     <->  nn.GRUCell,                   nn.GRU
    LSTMCell (any forget_bias)    <->  nn.LSTMCell,                  nn.LSTM  (proj_size=0 only)

``GRUCell(reset_after=False)`` (the textbook GRU) and ``SimplifiedGRUCell`` compute other
functions than any torch module, so they cannot be exported.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from .cells.base import RecurrentCell
from .cells.gru import GRUCell
from .cells.lstm import LSTMCell
from .cells.rnn import RNNCell

PARAM_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
TORCH_PARAM_RE = re.compile(r"^(weight_ih|weight_hh|bias_ih|bias_hh)_l(\d+)(_reverse)?$")

# torch cell class -> the torch layer class that unrolls it
TORCH_LAYER_OF_CELL: dict[type, type] = {nn.RNNCell: nn.RNN, nn.GRUCell: nn.GRU, nn.LSTMCell: nn.LSTM}


# --------------------------------------------------------------------------- names
def torch_param_name(name: str, layer: int, direction: int) -> str:
    """``("weight_ih", 1, 1) -> "weight_ih_l1_reverse"``."""
    if name not in PARAM_NAMES:
        raise ValueError(f"name must be one of {PARAM_NAMES}, got {name!r}")
    return f"{name}_l{layer}{'_reverse' if direction else ''}"


def parse_torch_param_name(torch_name: str) -> tuple[str, int, int] | None:
    """``"bias_hh_l2_reverse" -> ("bias_hh", 2, 1)``; ``None`` when it is not a torch RNN name."""
    match = TORCH_PARAM_RE.match(torch_name)
    if match is None:
        return None
    return match.group(1), int(match.group(2)), 1 if match.group(3) else 0


def torch_name_map(num_layers: int, bidirectional: bool, bias: bool) -> list[tuple[str, int, str]]:
    """``(torch_name, cell_index, cell_param_name)`` for every parameter, in torch's order."""
    D = 2 if bidirectional else 1
    names = PARAM_NAMES if bias else PARAM_NAMES[:2]
    return [
        (torch_param_name(name, layer, d), layer * D + d, name)
        for layer in range(num_layers)
        for d in range(D)
        for name in names
    ]


def _check_cell_count(cells: Sequence[RecurrentCell], num_layers: int, bidirectional: bool) -> int:
    D = 2 if bidirectional else 1
    if len(cells) != num_layers * D:
        raise ValueError(f"expected num_layers*num_directions={num_layers * D} cells, got {len(cells)}")
    return D


def _cells_bias(cells: Sequence[RecurrentCell]) -> bool:
    biases = {c.bias for c in cells}
    if len(biases) != 1:
        raise ValueError("all cells must agree on bias to map to one torch module, got a mix")
    return biases.pop()


# ---------------------------------------------------------------------- state dicts
def state_dict_to_torch(cells: Sequence[RecurrentCell], num_layers: int, bidirectional: bool) -> dict[str, Tensor]:
    """The torch-named state dict (``weight_ih_l0`` …) of ``cells``; tensors are detached, not copied."""
    _check_cell_count(cells, num_layers, bidirectional)
    bias = _cells_bias(cells)
    return {
        torch_name: getattr(cells[index], name).detach()
        for torch_name, index, name in torch_name_map(num_layers, bidirectional, bias)
    }


def load_state_dict_from_torch(
    cells: Sequence[RecurrentCell], state_dict: dict[str, Tensor], num_layers: int, bidirectional: bool
) -> None:
    """Copy a torch-named state dict (of ``nn.RNN/GRU/LSTM``) into ``cells``, strictly.

    Raises ``ValueError`` naming missing or unexpected keys and mismatched shapes.
    """
    _check_cell_count(cells, num_layers, bidirectional)
    bias = _cells_bias(cells)
    mapping = torch_name_map(num_layers, bidirectional, bias)
    expected = {torch_name for torch_name, _, _ in mapping}
    missing = sorted(expected - set(state_dict))
    unexpected = sorted(set(state_dict) - expected)
    if missing or unexpected:
        raise ValueError(
            f"torch state dict does not match num_layers={num_layers}, bidirectional={bidirectional}, "
            f"bias={bias}: missing keys {missing}, unexpected keys {unexpected}"
        )
    with torch.no_grad():
        for torch_name, index, name in mapping:
            src, dst = state_dict[torch_name], getattr(cells[index], name)
            if src.shape != dst.shape:
                raise ValueError(
                    f"{torch_name} has shape {tuple(src.shape)}, cell {index}.{name} expects {tuple(dst.shape)}"
                )
            dst.copy_(src)


# ---------------------------------------------------------------------------- cells
def _rnn_cell_from_torch(m: nn.RNNCell) -> RecurrentCell:
    return RNNCell(m.input_size, m.hidden_size, bias=m.bias, nonlinearity=m.nonlinearity)


def _gru_cell_from_torch(m: nn.GRUCell) -> RecurrentCell:
    return GRUCell(m.input_size, m.hidden_size, bias=m.bias, reset_after=True)


def _lstm_cell_from_torch(m: nn.LSTMCell) -> RecurrentCell:
    return LSTMCell(m.input_size, m.hidden_size, bias=m.bias)


# each builder takes an instance of the torch class it is keyed by (cell_from_torch checks isinstance)
CELL_FROM_TORCH: dict[type[nn.RNNCellBase], Callable[[Any], RecurrentCell]] = {
    nn.RNNCell: _rnn_cell_from_torch,
    nn.GRUCell: _gru_cell_from_torch,
    nn.LSTMCell: _lstm_cell_from_torch,
}


def torch_cell_spec(cell: RecurrentCell) -> tuple[type, dict[str, Any]]:
    """The torch cell class computing the same function as ``cell``, and its extra kwargs.

    Matches exact types only: a subclass may change ``step`` and so has no known torch twin.
    Raises ``ValueError`` when there is no torch equivalent.
    """
    kind = type(cell)
    if kind is RNNCell:
        return nn.RNNCell, {"nonlinearity": cell.nonlinearity}
    if kind is GRUCell:
        if not cell.reset_after:
            raise ValueError(
                "GRUCell with reset_after=False (reset gate before the matmul, the textbook GRU) has no "
                "torch equivalent: torch.nn.GRU/GRUCell apply the reset gate after it (reset_after=True)"
            )
        return nn.GRUCell, {}
    if kind is LSTMCell:
        return nn.LSTMCell, {}
    raise ValueError(
        f"{kind.__name__} has no torch equivalent; only RNNCell, GRUCell(reset_after=True) and LSTMCell do"
    )


def _device_dtype(module: nn.Module) -> dict[str, Any]:
    p = next(module.parameters())
    return {"device": p.device, "dtype": p.dtype}


def cell_from_torch(torch_cell: nn.Module) -> RecurrentCell:
    """A seqmodels cell equal to ``torch.nn.RNNCell/GRUCell/LSTMCell`` ``torch_cell``: same weights,
    device, dtype and train/eval mode."""
    for torch_type, build in CELL_FROM_TORCH.items():
        if isinstance(torch_cell, torch_type):
            cell = build(torch_cell).to(**_device_dtype(torch_cell))
            cell.load_state_dict(torch_cell.state_dict(), strict=True)
            return cell.train(torch_cell.training)
    raise ValueError(f"torch_cell must be a torch.nn.RNNCell, GRUCell or LSTMCell, got {type(torch_cell).__name__}")


def cell_to_torch(cell: RecurrentCell) -> nn.Module:
    """The ``torch.nn.RNNCell/GRUCell/LSTMCell`` equal to ``cell`` (see :func:`torch_cell_spec`)."""
    torch_type, kwargs = torch_cell_spec(cell)
    out = torch_type(cell.input_size, cell.hidden_size, bias=cell.bias, **kwargs, **_device_dtype(cell))
    out.load_state_dict(cell.state_dict(), strict=True)
    return out.train(cell.training)


# --------------------------------------------------------------------------- layers
def check_torch_rnn(module: nn.Module) -> None:
    """Raise ``ValueError`` unless ``module`` is an ``nn.RNN/GRU/LSTM`` that seqmodels can represent."""
    if not isinstance(module, (nn.RNN, nn.GRU, nn.LSTM)):
        raise ValueError(f"module must be a torch.nn.RNN, GRU or LSTM, got {type(module).__name__}")
    if getattr(module, "proj_size", 0):
        raise ValueError(f"torch.nn.LSTM with proj_size={module.proj_size} has no seqmodels equivalent")


def cell_factory_from_torch(module: nn.RNNBase) -> Callable[..., RecurrentCell]:
    """``cell(input_size=, hidden_size=)`` building the cells of torch ``module`` (bias, nonlinearity)."""
    check_torch_rnn(module)
    if isinstance(module, nn.LSTM):
        return functools.partial(LSTMCell, bias=module.bias)
    if isinstance(module, nn.GRU):
        return functools.partial(GRUCell, bias=module.bias, reset_after=True)
    assert isinstance(module, nn.RNN)  # check_torch_rnn admits nn.RNN, GRU and LSTM only
    return functools.partial(RNNCell, bias=module.bias, nonlinearity=module.nonlinearity)


def load_from_torch(cells: Sequence[RecurrentCell], module: nn.RNNBase) -> None:
    """Copy the weights of torch ``module`` into ``cells`` (torch's layer/direction order), strictly."""
    check_torch_rnn(module)
    load_state_dict_from_torch(cells, module.state_dict(), module.num_layers, module.bidirectional)


def layer_to_torch(
    cells: Sequence[RecurrentCell],
    num_layers: int,
    bidirectional: bool,
    batch_first: bool = False,
    dropout: float = 0.0,
) -> nn.Module:
    """The ``torch.nn.RNN/GRU/LSTM`` equal to a stack of ``cells``: same weights, device, dtype.

    All cells must map to the same torch cell (:func:`torch_cell_spec`) with the same bias.
    """
    _check_cell_count(cells, num_layers, bidirectional)
    specs = [torch_cell_spec(c) for c in cells]
    if any(spec != specs[0] for spec in specs):
        raise ValueError(f"all cells must map to the same torch cell to export, got {specs}")
    torch_cell_type, kwargs = specs[0]
    first = cells[0]
    module = TORCH_LAYER_OF_CELL[torch_cell_type](
        first.input_size,
        first.hidden_size,
        num_layers=num_layers,
        bias=_cells_bias(cells),
        batch_first=batch_first,
        dropout=dropout,
        bidirectional=bidirectional,
        **kwargs,
        **_device_dtype(first),
    )
    module.load_state_dict(state_dict_to_torch(cells, num_layers, bidirectional), strict=True)
    return module
