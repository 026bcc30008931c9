"""Moving a batch to the accelerator with its lengths left on the host.

The collates make ``lengths`` (B,) on the CPU. The recurrent layers read their values (the range check,
whether the batch is full length, the packing for torch's kernels) and build their masks from a device copy
they make themselves (:func:`seqmodels.utils.checks.checked_lengths`); the models and tasks move them where they
combine them with device tensors. Lengths moved to a GPU with the rest of the batch would be read back from it
at every recurrent layer call, and every such read waits for all the GPU work queued before it.

Which parts are lengths: in a dict or a named tuple, the fields named ``lengths`` or ``*_lengths``; in a plain
tuple or list, the element at the task's ``lengths_position`` (``None``: none).
"""

from __future__ import annotations

from typing import Any

import torch
from lightning.fabric.utilities.apply_func import move_data_to_device


def is_lengths_field(name: str) -> bool:
    """Whether a dict key or named-tuple field holds lengths: ``lengths`` or ``*_lengths``."""
    return name == "lengths" or name.endswith("_lengths")


def move_keeping_lengths(batch: Any, device: torch.device, lengths_position: int | None = None) -> Any:
    """``batch`` with every tensor on ``device`` except its lengths (see the module docstring)."""

    def move(part: Any) -> Any:
        return move_data_to_device(part, device)

    if isinstance(batch, dict):
        return type(batch)((key, part if is_lengths_field(str(key)) else move(part)) for key, part in batch.items())
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # a named tuple
        return type(batch)(*(part if is_lengths_field(f) else move(part) for f, part in zip(batch._fields, batch)))
    if isinstance(batch, (tuple, list)) and lengths_position is not None and len(batch) > lengths_position:
        return type(batch)(part if i == lengths_position else move(part) for i, part in enumerate(batch))
    return move(batch)
