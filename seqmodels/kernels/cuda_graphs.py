"""CUDA graphs for the ``custom`` backend's time loops: one launch per sequence instead of one per op.

On a GPU the ATen-op step loops of the cells' files (``aten_forward`` / ``aten_backward`` of
:mod:`seqmodels.kernels.lstm`, ``.gru`` and ``.rnn``) are bound by the CPU, not the GPU: each step is a GEMM
and 3-8 small elementwise kernels, and launching each from Python costs more than running it.
:func:`run` captures a loop function once per input signature (shapes, dtypes, which optional inputs are
given, the non-tensor flags) into a :class:`torch.cuda.CUDAGraph` and afterwards only copies the inputs
into the graph's static buffers, replays it and clones the outputs out — the same numbers as the eager
call (the same kernels run on the same data), without the per-op launch cost.

Rules for a function given to :func:`run`: it takes tensors (or None) and then plain flags, returns a tuple
of tensors (or None), and its control flow depends on shapes and flags only, never on tensor values.

Graphs are used only where they are safe: CUDA tensors, not while something else is capturing (a user's own
CUDA graph records our eager ops instead), not under ``torch.compile``, and not when
``SEQMODELS_CUDA_GRAPHS=0``. A capture that fails is reported once and that signature runs eagerly from
then on. Calls under ``torch.inference_mode`` and calls whose inputs require grad (a backward with
``create_graph``) run eagerly. The signature includes the TF32 and autocast settings, which decide the
kernels a capture records. At most :data:`MAX_GRAPHS` graphs are kept (least recently used dropped); each
holds a copy of its inputs, its outputs and one call's temporaries.
"""

from __future__ import annotations

import contextlib
import os
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TypeVar, cast

import torch
from torch import Tensor

from ..utils.precision import autocast_enabled

MAX_GRAPHS = 32
_EAGER = object()  # cache entry of a signature whose capture failed
R = TypeVar("R")


class _Graph:
    """A captured call: static inputs to copy into, the graph, and the static outputs each replay rewrites."""

    def __init__(self, fn: Callable, args: Sequence[Tensor | None], flags: tuple):
        self.inputs = [
            None if a is None else torch.empty_like(a, memory_format=torch.contiguous_format).copy_(a) for a in args
        ]
        self.outputs = self._capture(fn, flags)

    def _capture(self, fn: Callable, flags: tuple) -> tuple[Tensor | None, ...]:
        device = self.device = next(a.device for a in self.inputs if a is not None)
        with torch.cuda.device(device):  # the inputs' GPU, whichever is current
            side = torch.cuda.Stream(device)
            side.wait_stream(torch.cuda.current_stream(device))
            with torch.cuda.stream(side):  # warm-up outside the capture: cuBLAS handles and workspaces
                fn(*self.inputs, *flags)
            torch.cuda.current_stream(device).wait_stream(side)
            self.graph = torch.cuda.CUDAGraph()
            self.done = torch.cuda.Event()
            with torch.cuda.graph(self.graph, stream=torch.cuda.Stream(device), capture_error_mode="thread_local"):
                return fn(*self.inputs, *flags)

    def _replay(self) -> None:
        self.graph.replay()

    def __call__(self, args: Sequence[Tensor | None]) -> tuple[Tensor | None, ...]:
        done = getattr(self, "done", None)
        with torch.cuda.device(self.device) if done is not None else contextlib.nullcontext():
            if done is not None:  # the previous call's clones are read before this call's copies overwrite the inputs
                torch.cuda.current_stream(self.device).wait_event(done)
            for static, a in zip(self.inputs, args):
                if static is not None:
                    assert a is not None  # the signature fixes which inputs are given
                    static.copy_(a)
            self._replay()
            outputs = tuple(None if o is None else o.clone() for o in self.outputs)
            if done is not None:
                done.record(torch.cuda.current_stream(self.device))
        return outputs


_cache: OrderedDict[tuple, _Graph | object] = OrderedDict()
_lock = threading.Lock()
_warned = False


def _compiling() -> bool:
    compiler = getattr(torch, "compiler", None)
    return bool(compiler is not None and hasattr(compiler, "is_compiling") and compiler.is_compiling())


def _on_cuda(args: Sequence[Tensor | None]) -> bool:
    first = next((a for a in args if a is not None), None)
    return first is not None and first.is_cuda


def enabled() -> bool:
    return os.environ.get("SEQMODELS_CUDA_GRAPHS", "1") != "0"


def applies(args: Sequence[Tensor | None]) -> bool:
    """Whether :func:`run` would capture/replay a call on these inputs (else it calls the function eagerly)."""
    if not enabled() or not _on_cuda(args):
        return False
    if any(a is not None and a.numel() == 0 for a in args):
        return False
    if _compiling() or (torch.cuda.is_available() and torch.cuda.is_current_stream_capturing()):
        return False
    # static buffers made under inference mode would be inference tensors, which a later ordinary call could not
    # copy into; backward with create_graph records autograd history, which a replay cannot
    if torch.is_inference_mode_enabled():
        return False
    return not (torch.is_grad_enabled() and any(a is not None and a.requires_grad for a in args))


def _numerics() -> tuple:
    """Global settings that change which kernels a capture records (TF32, autocast)."""
    return torch.backends.cuda.matmul.allow_tf32, torch.get_float32_matmul_precision(), autocast_enabled("cuda")


def signature(fn: Callable, args: Sequence[Tensor | None], flags: tuple) -> tuple:
    return (
        fn.__module__,
        fn.__qualname__,
        flags,
        _numerics(),
        tuple(None if a is None else (tuple(a.shape), a.dtype, a.device) for a in args),
    )


def run(fn: Callable[..., R], args: Sequence[Tensor | None], flags: tuple = ()) -> R:
    """``fn(*args, *flags)``, replayed from a CUDA graph where :func:`applies`; fresh output tensors either way."""
    if not applies(args):
        return fn(*args, *flags)
    key = signature(fn, args, flags)
    with _lock:
        entry = _cache.get(key)
        if entry is None:
            entry = _capture(fn, args, flags)
            _cache[key] = entry
            while len(_cache) > MAX_GRAPHS:
                _cache.popitem(last=False)
        _cache.move_to_end(key)
        if isinstance(entry, _Graph):  # else _EAGER
            return cast(R, entry(args))  # the replay's clones of fn's outputs
    return fn(*args, *flags)


def _capture(fn: Callable, args: Sequence[Tensor | None], flags: tuple) -> _Graph | object:
    global _warned
    try:
        return _Graph(fn, args, flags)
    except Exception as err:  # noqa: BLE001 - any capture failure falls back to the eager loop
        if not _warned:
            warnings.warn(
                f"seqmodels: CUDA graph capture of {fn.__module__}.{fn.__qualname__} failed ({err}); "
                "running it eagerly (set SEQMODELS_CUDA_GRAPHS=0 to skip the attempt)",
                RuntimeWarning,
                stacklevel=3,
            )
            _warned = True
        return _EAGER


def clear() -> None:
    """Drop every captured graph (and the memory they hold)."""
    with _lock:
        _cache.clear()
