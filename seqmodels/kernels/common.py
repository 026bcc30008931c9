"""What the cells' files (:mod:`.lstm`, :mod:`.gru`, :mod:`.rnn`) share: the input path, buffers, addresses.

* The input path ``X̂ = X W_ihᵀ + b`` of all T steps is one GEMM (:func:`input_projection`), written straight
  into the buffer that then receives each step's ``W_hh h_{t-1}`` in place; its gradients ``dX = D W_ih``,
  ``dW_ih = Dᵀ X`` and ``db = Σ D`` are one GEMM (or sum) each over all T·B rows (:func:`input_grads`), as is
  ``dW_hh = Σ_t D_tᵀ h_{t-1}`` (:func:`hidden_weight_grad`).
* The C-loop drivers pass the kernels raw addresses into (T, ...) buffers made once per sequence
  (:func:`addresses`), never per-step tensors; big temporaries that live only inside one call come from
  per-thread buffers reused across calls (:func:`scratch`).
* Inference projects the input a chunk of steps at a time (:func:`chunk_steps`, :func:`chunked_projections`),
  so that the chunk is still in cache when the recurrence reads it.
"""

from __future__ import annotations

import math
import threading

import torch
from torch import Tensor


def sum_bias(a: Tensor | None, b: Tensor | None) -> Tensor | None:
    """``b_ih + b_hh``, either of which may be None."""
    if a is None:
        return b
    return a if b is None else a + b


def input_projection(x: Tensor, weight_ih: Tensor, bias: Tensor | None, out: Tensor | None = None) -> Tensor:
    """``X W_ihᵀ + b`` for all steps, one GEMM into ``out`` (T, B, G·H) or a fresh buffer."""
    T, B, I = x.shape
    x2 = x.reshape(T * B, I)
    flat = None if out is None else out.view(T * B, -1)
    if bias is None:
        flat = torch.mm(x2, weight_ih.t(), out=flat)
    else:
        flat = torch.addmm(bias, x2, weight_ih.t(), out=flat)
    return flat.view(T, B, -1)


def transposed(weight_hh: Tensor) -> Tensor:
    """``W_hhᵀ`` (H, G·H), contiguous: the per-step GEMM ``h W_hhᵀ`` is faster on it than on the transposed
    view (measured: ``docs/PERFORMANCE.md``)."""
    return weight_hh.t().contiguous()


def input_grads(need_d_x: bool, d_x_hat: Tensor, x: Tensor, weight_ih: Tensor, has_bias: bool):
    """Gradients of ``X̂ = X W_ihᵀ + b`` given ``dX̂`` (T, B, G·H): one GEMM each over the T·B rows."""
    T, B, I = x.shape
    D2 = d_x_hat.reshape(T * B, -1)
    d_x = D2.mm(weight_ih).view(T, B, I) if need_d_x else None
    d_w_ih = D2.t().mm(x.reshape(T * B, I))
    return d_x, d_w_ih, (D2.sum(0) if has_bias else None)


def hidden_weight_grad(D: Tensor, out: Tensor, h0: Tensor) -> Tensor:
    """``dW_hh = Σ_t D_tᵀ h_{t-1}`` with ``h_{t-1}`` = h0 then ``out[:-1]``: two GEMMs, no (T, B, H) copy."""
    T, B, G = D.shape
    if T == 0:
        return D.new_zeros(G, h0.shape[-1])
    grad = D[0].t().mm(h0)
    if T > 1:
        grad.addmm_(D[1:].reshape((T - 1) * B, G).t(), out[:-1].reshape((T - 1) * B, -1))
    return grad


def needs_grad(*tensors: Tensor | None) -> bool:
    """Whether autograd would record a call on these tensors (else the inference loops run, keeping nothing)."""
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


def step_views(*tensors: Tensor) -> list[tuple[Tensor, ...]]:
    """Per-step views of (T, ...) tensors, made in one ``unbind`` each: ``[(a_t, b_t, ...), ...]``."""
    return list(zip(*(t.unbind(0) for t in tensors)))


_scratch = threading.local()


def scratch(name: str, like: Tensor, *shape: int) -> Tensor:
    """An uninitialised tensor of ``shape`` reused by every call on this thread under ``name``.

    For big temporaries that live only inside one call — the backward's gate gradients (T, B, 4H), the
    GRU forward's input projection (T, B, 3H): a fresh buffer that size (tens of MB) comes straight from
    the OS and page-faults on first touch every call (glibc maps allocations above 32 MB anew each time)
    — a cost ``docs/PERFORMANCE.md`` measures at the char shape. One buffer per name and thread is kept
    and grows when a call needs more (a smaller call, e.g. a short last batch, uses its front); nothing
    that outlives the autograd Function's forward or backward call may be a view of it (those Functions are
    once-differentiable, so no double-backward graph keeps one either).
    """
    buffers = _scratch.__dict__.setdefault("buffers", {})
    buf = buffers.get(name)
    numel = math.prod(shape)
    if buf is None or buf.dtype != like.dtype or buf.numel() < numel or buf.device != like.device:
        buffers[name] = None  # free the old one first
        buf = buffers[name] = torch.empty(numel, dtype=like.dtype, device=like.device)
    return buf[:numel].view(shape)


def addresses(*buffers: Tensor) -> list[tuple[int, int]]:
    """(address of step 0, bytes per step) of contiguous (T, ...) buffers, for the per-step kernel calls."""
    return [(b.data_ptr(), b[0].numel() * b.element_size() if len(b) else 0) for b in buffers]


INFERENCE_CHUNK_BYTES = 1 << 20  # input projection per chunk of steps: about a megabyte of gates


def chunk_steps(B: int, G: int, itemsize: int) -> int:
    """Steps whose input projection is computed at once in inference: few enough that the chunk is still in
    cache when the recurrence reads it (the full (T, B, G) buffer would make every step read it from memory)."""
    return max(1, INFERENCE_CHUNK_BYTES // max(1, B * G * itemsize))


def chunked_projections(x: Tensor, weight_ih: Tensor, chunk: Tensor):
    """Yields ``(t0, n)`` after writing ``x[t0:t0+n] W_ihᵀ`` (no bias) into ``chunk[:n]``, for every chunk."""
    T, B, I = x.shape
    C, w_ih_t = chunk.shape[0], weight_ih.t()
    for t0 in range(0, T, C):
        n = min(C, T - t0)
        torch.mm(x[t0 : t0 + n].reshape(n * B, I), w_ih_t, out=chunk[:n].view(n * B, -1))
        yield t0, n
