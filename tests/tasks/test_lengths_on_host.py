"""Lengths stay on the host when a batch moves to the accelerator, and nothing breaks for it.

``SequenceTask.transfer_batch_to_device`` moves every tensor of a batch but its lengths
(:mod:`seqmodels.tasks.batch_transfer`): the layers read their values on the host, so that a GPU step never
waits for them. On a GPU a CPU tensor (other than a 0-d one) meeting a GPU tensor in an operation is an error;
a CPU-only machine has no second device, so :class:`OnHost` stands in: it marks the lengths the transfer left
behind, and any operation combining them (more than 0 dimensions of them) with a tensor of the batch fails as
CUDA would (indexing a tensor with them, packing with them and moving them with ``.to(device)`` are what CUDA
allows).
Each kind of task then trains, validates and tests a few batches of a real experiment with the marked lengths.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import pytest
import torch
from torch.utils._pytree import tree_leaves, tree_map

import seqmodels.tasks.base
from seqmodels.commands.train import train
from seqmodels.tasks.batch_transfer import is_lengths_field, move_keeping_lengths
from tests.commands.test_conditional_lm_cli import rows as conditional_rows
from tests.helpers.configs import QUIET, compose_config, missing_data, shrink


def moves_to_a_device(func: Any, args: tuple, kwargs: dict) -> bool:
    """Whether ``func(*args, **kwargs)`` is ``Tensor.to`` / ``.cuda`` naming a device (not only a dtype)."""
    if func is torch.Tensor.cuda:
        return True
    if func is not torch.Tensor.to:
        return False
    return "device" in kwargs or any(isinstance(a, (torch.device, str, torch.Tensor)) for a in args[1:])


class OnHost(torch.Tensor):
    """Lengths left on the host while the rest of the batch is on a GPU (see the module docstring)."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if moves_to_a_device(func, args, kwargs):  # the device copy: an ordinary tensor
            with torch._C.DisableTorchFunctionSubclass():
                moved = func(*args, **kwargs)  # the lengths themselves where the copy would change nothing
            return moved.as_subclass(torch.Tensor)
        tensors = [t for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)]
        with torch._C.DisableTorchFunctionSubclass():  # looking at them without coming back here
            host = [t for t in tensors if isinstance(t, OnHost) and t.dim() > 0]
            device = [t for t in tensors if not isinstance(t, OnHost)]
            indexes_a_device_tensor = func is torch.Tensor.__getitem__ and not isinstance(args[0], OnHost)
            packs = getattr(func, "__name__", "") == "_pack_padded_sequence"
            if host and device and not (indexes_a_device_tensor or packs):
                raise AssertionError(
                    f"{getattr(func, '__name__', func)} combines lengths on the host with a device tensor"
                )
        result = super().__torch_function__(func, types, args, kwargs)
        if device:  # a host scalar met a device tensor (CUDA allows it): the result is on the device
            return tree_map(lambda r: r.as_subclass(torch.Tensor) if isinstance(r, OnHost) else r, result)
        return result


def mark_lengths(batch: Any, lengths_position: int | None) -> Any:
    """The lengths that ``move_keeping_lengths`` left behind, as :class:`OnHost`."""

    def mark(part: Any) -> Any:
        return part.as_subclass(OnHost) if isinstance(part, torch.Tensor) else part

    if isinstance(batch, dict):
        return type(batch)((k, mark(v) if is_lengths_field(str(k)) else v) for k, v in batch.items())
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*(mark(v) if is_lengths_field(f) else v for f, v in zip(batch._fields, batch)))
    if isinstance(batch, (tuple, list)) and lengths_position is not None:
        return type(batch)(mark(v) if i == lengths_position else v for i, v in enumerate(batch))
    return batch


# ------------------------------------------------------------------------------ the oracle and the transfer
def test_on_host_fails_where_cuda_would_and_passes_where_it_would_not():
    lengths = torch.tensor([3, 1, 2]).as_subclass(OnHost)
    steps = torch.arange(4)
    with pytest.raises(AssertionError, match="combines lengths on the host"):
        _ = steps[None, :] < lengths[:, None]
    mask = steps[None, :] < lengths.to(steps.device)[:, None]  # moved first: fine
    assert type(mask) is torch.Tensor and mask.sum() == 6
    assert int((lengths - 1).sum()) == 3  # reads and arithmetic on the host: fine
    assert torch.randn(3, 4)[torch.arange(3), lengths - 1].shape == (3,)  # an index on the host: fine
    assert isinstance(lengths.to(torch.int32), OnHost)  # a dtype alone: still on the host


class Pair(NamedTuple):
    source: torch.Tensor
    source_lengths: torch.Tensor
    sources: list


@pytest.mark.parametrize(
    ("batch", "position", "kept"),
    [
        ((torch.zeros(2, 3), torch.tensor([3, 1]), torch.zeros(2)), 1, [1]),
        ([torch.zeros(2, 3), torch.tensor([3, 1])], 1, [1]),
        ((torch.zeros(2, 3), torch.tensor([3, 1])), None, []),
        (
            {"tokens": torch.zeros(2, 3), "lengths": torch.tensor([3, 1]), "target_lengths": torch.ones(2)},
            None,
            ["lengths", "target_lengths"],
        ),
        (Pair(torch.zeros(2, 3), torch.tensor([3, 1]), ["a", "b"]), None, ["source_lengths"]),
    ],
    ids=["tuple", "list", "tuple-without-lengths", "dict", "named-tuple"],
)
def test_move_keeping_lengths_moves_everything_but_the_lengths(batch, position, kept):
    moved = move_keeping_lengths(batch, torch.device("meta"), position)
    assert type(moved) is type(batch)
    items = moved.items() if isinstance(moved, dict) else zip(getattr(moved, "_fields", range(len(moved))), moved)
    for key, part in items:
        if isinstance(part, torch.Tensor):
            assert part.device.type == ("cpu" if key in kept else "meta"), key
        else:
            assert part == ["a", "b"]


# ------------------------------------------------------------------------------ every kind of task
EXPERIMENTS = {
    "tagging": ["experiment=conll2000_chunk_bilstm"],
    "classification, tokens": ["experiment=sst2_bilstm"],
    "classification, real values": ["experiment=japanese_vowels_gru"],
    "regression": ["experiment=adding_lstm"],
    "next frame": ["experiment=nottingham_lstm"],
    "translation": ["experiment=multi30k_gru_attention"],
    "conditional language model": ["experiment=conditional_lm", "data.condition_columns=[label,mood]"],
}


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(EXPERIMENTS))
def test_every_task_trains_validates_and_tests_with_its_lengths_on_the_host(kind, tmp_path, monkeypatch):
    overrides = [*QUIET, *EXPERIMENTS[kind], "debug=fast", "logger=csv"]
    if kind == "conditional language model":
        (tmp_path / "train.csv").write_text(conditional_rows(), encoding="utf-8")
        overrides += [f"data.train={tmp_path / 'train.csv'}", "test=false"]
    cfg = shrink(compose_config(overrides, tmp_path / "run"))
    reason = missing_data(cfg)
    if reason:
        pytest.skip(reason)
    marked = []

    def keeping_and_marking(batch, device, lengths_position=None):
        out = mark_lengths(move_keeping_lengths(batch, device, lengths_position), lengths_position)
        marked.append(any(isinstance(t, OnHost) for t in tree_leaves(out)))
        return out

    monkeypatch.setattr(seqmodels.tasks.base, "move_keeping_lengths", keeping_and_marking)
    result = train(cfg)
    assert result["global_step"] == 3
    assert marked and all(marked), f"{sum(marked)} of {len(marked)} batches had lengths to keep"
