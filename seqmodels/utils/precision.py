"""Mixed precision (``torch.autocast``): whether it is on, and running a computation outside it.

Under autocast, matrix products return autocast's dtype (bfloat16 on CPU, float16 or bfloat16 on CUDA)
whatever their inputs' dtype. seqmodels' own recurrences write those products into buffers they made in
the input's dtype and hand raw addresses of them to C loops, so they run outside autocast, in the dtype of
their recurrent weight (:func:`outside_autocast`); torch's fused kernels (the ``torch`` backend) follow
autocast's own rules.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

import torch
from torch import Tensor


def autocast_enabled(device_type: str) -> bool:
    """Whether ``torch.autocast`` is on for ``device_type`` (``"cpu"``, ``"cuda"``, ...)."""
    try:
        return torch.is_autocast_enabled(device_type)
    except TypeError:  # torch < 2.4: no device argument (CUDA), and a separate query for the CPU
        return torch.is_autocast_cpu_enabled() if device_type == "cpu" else torch.is_autocast_enabled()


def outside_autocast(fn: Callable[..., Any], dtype: torch.dtype, x: Tensor, *args: Any, **kwargs: Any) -> Any:
    """``fn(x, *args, **kwargs)`` with autocast off for ``x``'s device and every floating-point tensor among
    ``x`` and ``args`` cast to ``dtype`` (a no-op for those already in it; gradients flow back through the
    casts in their own dtypes)."""

    def cast(value: Any) -> Any:
        return value.to(dtype) if isinstance(value, Tensor) and value.is_floating_point() else value

    with torch.autocast(x.device.type, enabled=False):
        return fn(cast(x), *(cast(a) for a in args), **kwargs)


Backward = TypeVar("Backward", bound=Callable[..., Any])


def backward_outside_autocast(backward: Backward) -> Backward:
    """Decorate an autograd Function's ``backward`` to run outside autocast, so that a backward called under
    it (``loss.backward()`` inside a ``torch.autocast`` block) computes in the dtypes its forward saved."""

    @functools.wraps(backward)
    def run(ctx: Any, *grads: Any) -> Any:
        device_type = next((g.device.type for g in grads if isinstance(g, Tensor)), "cpu")
        if not autocast_enabled(device_type):
            return backward(ctx, *grads)
        with torch.autocast(device_type, enabled=False):
            return backward(ctx, *grads)

    return cast(Backward, run)
