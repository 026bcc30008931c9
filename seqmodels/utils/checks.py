"""Argument checks that name the argument, and the step mask of variable-length batches.

Used by every layer of the package, from the reference recurrences up to the models."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .transfer import to_device_nowait


def check_positive_int(name: str, value: Any) -> int:
    """Return ``value`` if it is an int > 0, else raise ``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def check_probability(name: str, value: Any) -> float:
    """``value`` as a float if it is a number in [0, 1) (a dropout rate), else ``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
    return float(value)


def check_input(x: Tensor, input_size: int, name: str = "input") -> None:
    """Raise ``ValueError`` unless ``x`` is a 3-D float sequence with ``input_size`` features."""
    if not isinstance(x, Tensor):
        raise ValueError(f"{name} must be a Tensor, got {type(x).__name__}")
    if x.dim() != 3:
        raise ValueError(
            f"{name} must be 3-D (seq, batch, features) or (batch, seq, features), got shape {tuple(x.shape)}"
        )
    if x.shape[-1] != input_size:
        raise ValueError(f"{name} has {x.shape[-1]} features, expected input_size={input_size}")


def check_lengths(lengths: Tensor | None, batch_size: int, seq_len: int, device: torch.device) -> Tensor | None:
    """Validate ``lengths`` (B,) with values in [1, T]; return it as int64 on ``device``."""
    checked = checked_lengths(lengths, batch_size, seq_len, device)
    return None if checked is None else checked[1]


def checked_lengths(
    lengths: Tensor | None, batch_size: int, seq_len: int, device: torch.device
) -> tuple[Tensor, Tensor] | None:
    """Validate ``lengths`` (B,) with values in [1, T]; return ``(on the host, on device)``, both int64.

    The values are read on the host: lengths given on the CPU (as the collates make them) never make the host wait
    for a GPU, however often a caller reads the host copy, and go up to the GPU without waiting either
    (:func:`~seqmodels.utils.transfer.to_device_nowait`); lengths given on a GPU cost one copy back, which waits.
    Under ``torch.compile`` / ``torch.export`` nothing is read or copied back (data-dependent), the range is not
    checked and both tensors are the lengths on ``device``."""
    if lengths is None:
        return None
    lengths = torch.as_tensor(lengths)
    if lengths.dim() != 1 or lengths.shape[0] != batch_size:
        raise ValueError(f"lengths must have shape ({batch_size},), got {tuple(lengths.shape)}")
    if lengths.dtype.is_floating_point or lengths.dtype == torch.bool:
        raise ValueError(f"lengths must be integers, got dtype {lengths.dtype}")
    if torch.compiler.is_compiling():
        on_device = lengths.to(device=device, dtype=torch.long)
        return on_device, on_device
    host = lengths.to(device="cpu", dtype=torch.long)
    if batch_size and (int(host.min()) < 1 or int(host.max()) > seq_len):
        raise ValueError(
            f"lengths must lie in [1, {seq_len}] (the sequence length), got min {int(host.min())} "
            f"and max {int(host.max())}"
        )
    if lengths.device.type == "cpu":
        return host, to_device_nowait(host, device)
    return host, lengths.to(device=device, dtype=torch.long)


def step_mask(lengths: Tensor, seq_len: int) -> Tensor:
    """(T, B, 1) boolean mask, True where step t is a real step of sequence b."""
    t = torch.arange(seq_len, device=lengths.device)
    return (t[:, None] < lengths[None, :]).unsqueeze(-1)  # (T, B, 1)
