"""A dense layer whose products run on oneDNN's matmul on CPU: the output layer over a vocabulary.

:func:`linear` is ``torch.nn.functional.linear``: for x (..., K), W (N, K) and b (N,),

    y = x W^T + b,        dL/dx = g W,        dL/dW = g^T x,        dL/db = Σ_rows g

with g = dL/dy flattened to (M, N). On CPU in float32, for products of at least ``MIN_MACS``
multiply-adds, the forward and dL/dx run on oneDNN's matmul (``torch.ops.mkldnn._linear_pointwise``, the op
torch's own compiler emits for CPU linears; it reads a transposed W without a copy) and dL/dW on torch's
``mm`` (MKL), in one autograd Function. torch's ``linear`` runs all three through MKL's GEMM, which on the
AVX-512 AMD EPYC these figures come from reaches about 46 GFLOP/s a core against oneDNN's 50-52. For the
PTB word model's decoder (M 700, K 200, N 10,000) forward and backward take 46 ms against torch's 53 ms
(``docs/PERFORMANCE.md``). The results are float32 products summed in another order: equal to torch's
within float32 rounding, not bit for bit.

Anywhere else (float64, other dtypes, GPU, small products, a strided bias, no oneDNN or no such op in this
torch, ``torch.backends.mkldnn.enabled = False``, autocast, forward-mode AD and ``torch.func`` transforms,
``torch.compile``, ``SEQMODELS_NATIVE=0``) it is ``torch.nn.functional.linear`` itself. The gradients are not
differentiable again (no double backward).
"""

from __future__ import annotations

from functools import lru_cache

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from . import loader as native

MIN_MACS = 1 << 20  # below about a million multiply-adds the op's fixed cost (~0.1 ms) outweighs its speed


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``torch.nn.functional.linear(x, weight, bias)``: x (..., K), weight (N, K), bias (N,) -> (..., N)."""
    if not _applies(x, weight, bias):
        return nn.functional.linear(x, weight, bias)
    inputs = (x, weight) if bias is None else (x, weight, bias)
    if torch.is_grad_enabled() and any(t.requires_grad for t in inputs):
        return _OneDnnLinear.apply(x, weight, bias)
    return _product(x.reshape(-1, x.shape[-1]), weight, bias).reshape(*x.shape[:-1], weight.shape[0])


class Linear(nn.Linear):
    """``torch.nn.Linear`` that runs :func:`linear` (same arguments, parameters, state dict and repr)."""

    def forward(self, input: Tensor) -> Tensor:
        return linear(input, self.weight, self.bias)


def _applies(x: Tensor, weight: Tensor, bias: Tensor | None) -> bool:
    if not native.enabled() or torch.compiler.is_compiling():  # first: the shape tests below would guard a trace
        return False
    if not torch.backends.mkldnn.enabled or torch.is_autocast_enabled("cpu"):  # torch's switches; autocast's dtype
        return False
    tensors = (x, weight) if bias is None else (x, weight, bias)
    if any(t.device.type != "cpu" or t.dtype != torch.float32 for t in tensors) or native.under_transform(*tensors):
        return False
    if weight.dim() != 2 or x.dim() == 0 or x.shape[-1] != weight.shape[1]:
        return False  # torch's own message for wrong shapes
    if bias is not None and (bias.shape != (weight.shape[0],) or not bias.is_contiguous()):
        return False  # the op reads the bias as N contiguous floats
    if x.numel() * weight.shape[0] < MIN_MACS:  # M * K * N
        return False
    return _onednn_matches_torch()


def _product(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """x (M, K) @ weight (N, K)^T + bias -> (M, N) on oneDNN."""
    return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")


@lru_cache(maxsize=1)
def _onednn_matches_torch() -> bool:
    """Whether this torch has oneDNN's linear op and its products (forward, and through a transposed weight
    as the backward uses it) match ``torch.mm`` on a small case; checked once per process."""
    if not torch.backends.mkldnn.is_available():
        return False
    try:
        generator = torch.Generator().manual_seed(0)
        x, weight, bias, grad = (
            torch.randn(shape, generator=generator, dtype=torch.float32, device="cpu")
            for shape in ((37, 19), (23, 19), (23,), (37, 23))
        )
        forward = _product(x, weight, bias)
        backward = _product(grad, weight.t(), None)
    except (AttributeError, RuntimeError):
        return False
    exact = x.double() @ weight.double().t() + bias.double(), grad.double() @ weight.double()
    return all(
        torch.allclose(got.double(), want, rtol=1e-5, atol=1e-5) for got, want in zip((forward, backward), exact)
    )


class _OneDnnLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        rows = x.reshape(-1, x.shape[-1])  # (M, K)
        ctx.save_for_backward(rows, weight)
        ctx.x_shape, ctx.has_bias = x.shape, bias is not None
        return _product(rows, weight, bias).reshape(*x.shape[:-1], weight.shape[0])

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: Tensor) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
        rows, weight = ctx.saved_tensors
        grad = grad_out.reshape(-1, weight.shape[0])  # (M, N)
        grad_x = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_x = _product(grad, weight.t(), None).reshape(ctx.x_shape)  # g W
        if ctx.needs_input_grad[1]:
            grad_weight = grad.t().mm(rows)  # g^T x
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_bias = grad.sum(0)
        return grad_x, grad_weight, grad_bias
