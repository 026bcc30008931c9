"""Helpers for recurrent states: a Tensor, or a (nested) tuple/list of Tensors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor


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
