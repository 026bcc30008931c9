"""Helpers for recurrent states: a Tensor, or a (nested) tuple/list of Tensors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor

from .precision import autocast_enabled


def map_state(fn: Callable[..., Tensor], *states: Any) -> Any:
    """Apply ``fn`` leaf-wise over states of the same structure (Tensor, tuple or list)."""
    first = states[0]
    if isinstance(first, Tensor):
        return fn(*states)
    if isinstance(first, (tuple, list)):
        return type(first)(map_state(fn, *parts) for parts in zip(*states))
    if first is None:
        return None
    raise TypeError(f"a recurrent state must be a Tensor or a tuple/list of them, got {type(first).__name__}")


def detach_state(state: Any) -> Any:
    """Cut the graph behind a state (truncated BPTT carries values, not gradients)."""
    return map_state(lambda t: t.detach(), state)


def check_state_like(states: list[Any] | None, x: Tensor, batch_size: int) -> None:
    """Raise ``ValueError`` unless every tensor of every state in ``states`` (one per layer and direction) has
    ``x``'s dtype and device and ``batch_size`` rows, naming the state; ``None`` entries are left alone.

    Under ``torch.autocast`` on ``x``'s device a floating-point state of another dtype passes too: autocast
    chooses the dtypes there (a state the previous batch left in bfloat16, an input a projection made
    bfloat16), and the recurrences cast (:mod:`.precision`)."""
    if states is None:
        return
    for index, state in enumerate(states):
        leaves = [state] if isinstance(state, Tensor) else list(state) if isinstance(state, (tuple, list)) else []
        for part, leaf in enumerate(leaves):
            if not isinstance(leaf, Tensor):
                continue
            where = f"state[{index}]" + (f"[{part}]" if len(leaves) > 1 else "")
            dtype_ok = leaf.dtype == x.dtype or (
                leaf.is_floating_point() and x.is_floating_point() and autocast_enabled(x.device.type)
            )
            if not dtype_ok or leaf.device != x.device:
                raise ValueError(
                    f"{where} is {leaf.dtype} on {leaf.device} but the input is {x.dtype} on {x.device}: "
                    "pass initial states of the input's dtype and device"
                )
            if leaf.dim() < 1 or leaf.shape[0] != batch_size:
                raise ValueError(
                    f"{where} has shape {tuple(leaf.shape)}, expected {batch_size} rows (the input's batch size)"
                )
