"""Copies between the host and a GPU that do not wait for the GPU.

``Tensor.to("cuda")`` of an ordinary (pageable) CPU tensor is a blocking copy: torch queues it and then waits for
the stream, i.e. for every kernel queued before it, so the host stops running ahead of the GPU. A copy from
page-locked ("pinned") memory with ``non_blocking=True`` is queued like a kernel and returns at once; torch's
pinned-memory allocator keeps the source block until the copy has run. The lengths of a variable-length batch
stay on the host (the layers read them there) and go to the GPU this way wherever a mask is built from them.
"""

from __future__ import annotations

import torch
from torch import Tensor


def to_device_nowait(tensor: Tensor, device: torch.device | str, dtype: torch.dtype | None = None) -> Tensor:
    """``tensor`` (as ``dtype``, when given) on ``device``; a CPU tensor bound for a CUDA device goes through
    pinned memory with ``non_blocking=True`` (see the module docstring), anything else through ``Tensor.to``.

    Under ``torch.compile`` / ``torch.export`` it is ``Tensor.to``."""
    device = torch.device(device)
    if dtype is not None and tensor.dtype != dtype:
        tensor = tensor.to(dtype)  # on its own device: a host tensor is converted on the host
    if device.type == "cuda" and tensor.device.type == "cpu" and not torch.compiler.is_compiling():
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)
