"""Dropout with a hashed mask on CPU: one pass forward, one pass backward, no mask stored.

:func:`dropout` is ``torch.nn.functional.dropout(x, p, training)`` in distribution: in training every element
is zeroed with probability ``p`` and the others scaled by ``1/(1-p)``; in evaluation it returns ``x``. On CPU
(float32/float64, one dense block of memory, the C kernels compiled) the mask is not drawn from a random
stream but computed from each element's place i in memory and a 64-bit key drawn from torch's default
generator (two 32-bit words, so ``torch.manual_seed`` and Lightning's ``seed_everything`` make runs repeat):

    keep_i = mix(mix(i ^ k0) + k1) >= round(p * 2^32),        y_i = keep_i * x_i / (1 - p)

with ``mix`` a 32-bit integer hash (``csrc/dropout_impl.h``). The backward recomputes the same mask from the
key, ``dL/dx_i = keep_i * dL/dy_i / (1 - p)``, so nothing of the size of ``x`` is kept for it, and is itself
differentiable (double backward applies the mask again).

torch's CPU dropout draws a Bernoulli tensor (about 1 ms for the 140,000 elements of one PTB word-model
activation on two cores), divides it by ``1 - p`` and multiplies it in twice; this is a few integer operations
an element, vectorised. What it saves end to end: ``docs/PERFORMANCE.md``. The masks differ from torch's for
the same seed (same distribution, other draws). A dropped element is 0 even where ``x`` is NaN or inf (torch's
``x * 0`` keeps NaN there). Anywhere else (GPU, other dtypes, an input with gaps or overlaps in memory,
``inplace=True``, forward-mode AD and ``torch.func`` transforms, ``torch.compile``, ``SEQMODELS_NATIVE=0``,
no compiler) it is torch's dropout itself.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .loader import Kernels, kernels, under_transform


def dropout(x: Tensor, p: float, training: bool = True) -> Tensor:
    """``x`` with each element zeroed with probability ``p`` and the rest scaled by ``1/(1-p)`` in training;
    ``x`` itself when not training or ``p == 0``. Any shape; the result has ``x``'s shape and dtype."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return x
    library = _library(x) if p < 1.0 else None
    if library is None:
        return nn.functional.dropout(x, p, True)
    mask = _Mask.draw(p)
    if torch.is_grad_enabled() and x.requires_grad:
        return _HashedDropout.apply(x, library, mask)
    return mask.apply(library, x)


def hashed_dropout_applies(x: Tensor) -> bool:
    """Whether :func:`dropout` of ``x`` (with ``0 < p < 1``, in training) runs the hashed kernel, not torch's."""
    return _library(x) is not None


def _library(x: Tensor) -> Kernels | None:
    if torch.compiler.is_compiling():  # torch.compile / torch.export trace torch's dropout (no shape guards here)
        return None
    return kernels(x) if _dense(x) and not under_transform(x) else None


def _dense(x: Tensor) -> bool:
    """Whether ``x``'s elements fill one block of memory without gaps or overlaps, in some order of its
    dimensions (contiguous, or a permutation of a contiguous tensor such as a transposed time-major
    output): the kernel then runs over that memory and the mask follows the memory order."""
    expected = 1
    for size, stride in sorted(zip(x.shape, x.stride()), key=lambda pair: pair[1]):
        if size == 1:
            continue
        if stride != expected:
            return False
        expected *= size
    return True


class Dropout(nn.Dropout):
    """``torch.nn.Dropout`` that runs :func:`dropout` (same arguments, state and repr; ``inplace=True`` runs
    torch's, which writes into its input)."""

    def forward(self, input: Tensor) -> Tensor:
        if self.inplace:
            return super().forward(input)
        return dropout(input, self.p, self.training)


class _Mask:
    """One call's mask: the key (two 32-bit words), the drop threshold and the scale of kept elements."""

    def __init__(self, key0: int, key1: int, p: float):
        self.key0, self.key1 = key0, key1
        self.threshold = min(round(p * 2.0**32), 2**32 - 1)  # drop when the hash is below it
        self.scale = 1.0 / (1.0 - p)

    @classmethod
    def draw(cls, p: float) -> _Mask:
        key0, key1 = torch.randint(0, 2**32, (2,), dtype=torch.int64).tolist()  # torch's default generator
        return cls(key0, key1, p)

    def apply(self, library: Kernels, x: Tensor) -> Tensor:
        """(any shape, dense) -> the same shape and strides, masked and scaled in memory order."""
        out = torch.empty_like(x)  # the same strides (torch.preserve_format on a dense tensor)
        library.dropout_apply(x.numel(), x.data_ptr(), out.data_ptr(), self.key0, self.key1, self.threshold, self.scale)
        return out


class _HashedDropout(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, library: Kernels, mask: _Mask) -> Tensor:
        ctx.library, ctx.mask, ctx.layout = library, mask, x.stride()
        return mask.apply(library, x)

    @staticmethod
    def backward(ctx, grad_out: Tensor) -> tuple[Tensor, None, None]:
        if grad_out.stride() != ctx.layout:  # the mask follows x's memory order: lay the gradient out alike
            grad_out = torch.empty_strided(grad_out.shape, ctx.layout, dtype=grad_out.dtype).copy_(grad_out)
        if torch.is_grad_enabled() and grad_out.requires_grad:  # create_graph=True: the mask again, recorded
            return _HashedDropout.apply(grad_out, ctx.library, ctx.mask), None, None
        return ctx.mask.apply(ctx.library, grad_out), None, None
