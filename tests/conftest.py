"""Shared test fixtures and helpers.

Fixtures:
    data_dir: the shared real-data folder (env ``SEQMODELS_DATA_DIR``, else ``<repo>/../shared/data``);
        tests using it are skipped, with the reason, when the folder is absent.
    seed: seeds torch's global generator with 0 for a deterministic test.

Helpers (plain functions, used by the parity tests; import with ``from conftest import ...``):
    copy_torch_rnn_weights: copy ``torch.nn.RNN/GRU/LSTM`` weights into a list of seqmodels cells,
        written independently of ``seqmodels.interop`` so that it can serve as its oracle.
    max_abs_diff: the largest |a - b| over two tensors or (nested) tuples/lists of tensors.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import pytest
import torch
from torch import Tensor

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR_ENV = "SEQMODELS_DATA_DIR"


def resolve_data_dir() -> Path:
    """``$SEQMODELS_DATA_DIR`` when set, else ``<repo>/../shared/data``."""
    env = os.environ.get(DATA_DIR_ENV)
    return Path(env).expanduser() if env else REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The folder with the shared real datasets; skips the test when it does not exist."""
    path = resolve_data_dir()
    if not path.is_dir():
        pytest.skip(
            f"shared data folder {path} not found: set {DATA_DIR_ENV} to the folder holding "
            "tinyshakespeare/, ptb/, ... or place it at <repo>/../shared/data"
        )
    return path


@pytest.fixture
def seed() -> int:
    """Seed torch's global generator with 0 and return the seed."""
    torch.manual_seed(0)
    return 0


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
