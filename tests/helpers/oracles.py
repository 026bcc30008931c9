"""Independent oracles for the parity tests, written without seqmodels' own helpers.

copy_torch_rnn_weights: copy ``torch.nn.RNN/GRU/LSTM`` weights into a list of seqmodels cells,
    written independently of ``seqmodels.interop`` so that it can serve as its oracle.
max_abs_diff: the largest |a - b| over two tensors or (nested) tuples/lists of tensors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor


def copy_torch_rnn_weights(cells: Sequence[torch.nn.Module], module: torch.nn.RNNBase) -> None:
    """Copy the weights of a ``torch.nn.RNN/GRU/LSTM`` into ``cells`` (torch's layer/direction order).

    Cell ``l * D + d`` gets ``weight_ih_l{l}{suffix}``, ``weight_hh_l{l}{suffix}`` and, when the
    module has biases, ``bias_ih_l{l}{suffix}``, ``bias_hh_l{l}{suffix}``, with suffix ``""`` for
    d = 0 and ``"_reverse"`` for d = 1. Shapes must match exactly.
    """
    D = 2 if module.bidirectional else 1
    assert len(cells) == module.num_layers * D, (len(cells), module.num_layers, D)
    names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if module.bias else [])
    with torch.no_grad():
        for layer in range(module.num_layers):
            for direction in range(D):
                cell = cells[layer * D + direction]
                suffix = "_reverse" if direction else ""
                for name in names:
                    src = getattr(module, f"{name}_l{layer}{suffix}")
                    dst = getattr(cell, name)
                    assert dst.shape == src.shape, (name, layer, direction, dst.shape, src.shape)
                    dst.copy_(src)


def max_abs_diff(a: Any, b: Any) -> float:
    """max |a - b| over tensors or matching (nested) tuples/lists of tensors; shapes must agree."""
    if isinstance(a, Tensor):
        assert isinstance(b, Tensor), type(b)
        assert a.shape == b.shape, (a.shape, b.shape)
        return (a - b).abs().max().item() if a.numel() else 0.0
    assert isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)), (type(a), type(b))
    assert len(a) == len(b), (len(a), len(b))
    return max((max_abs_diff(x, y) for x, y in zip(a, b)), default=0.0)
