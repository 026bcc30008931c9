"""A dense layer whose products run on oneDNN's matmul on CPU: the output layer over a vocabulary.

:func:`linear` is ``torch.nn.functional.linear``: for x (..., K), W (N, K) and b (N,),

    y = x W^T + b,        dL/dx = g W,        dL/dW = g^T x,        dL/db = Σ_rows g

with g = dL/dy flattened to (M, N). On CPU in float32, for products of at least ``MIN_MACS``
multiply-adds, the forward and dL/dx run on oneDNN's matmul (``torch.ops.mkldnn._linear_pointwise``, the op
torch's own compiler emits for CPU linears; it reads a transposed W without a copy), in one autograd Function.
dL/dW and dL/db depend on the weight's layout:

* column-major W (what :class:`Linear` keeps from ``COLUMN_MAJOR_FROM`` outputs): one oneDNN product [x, 1]^T g of shape (K+1, N), whose first
  K rows are dL/dW already in the weight's layout and whose last row is dL/db, so neither a transposing copy
  nor a separate pass over g for the bias;
* row-major W (a tied embedding's, any plain tensor): ``g^T x`` on torch's ``mm`` (MKL) and ``g.sum(0)``.

torch's ``linear`` runs all three products through MKL's GEMM, which on the AVX-512 AMD EPYC these figures
come from reaches about 46 GFLOP/s a core against oneDNN's 50-52. For the PTB word model's decoder (M 700,
K 200, N 10,000), products alone: forward 13.7 ms against 15.7, dL/dx 14.1 against 15.8, dL/dW 13.4 against
15.4, and the bias 0.6 ms less (``docs/PERFORMANCE.md``). The results are float32 products summed in another
order: equal to torch's within float32 rounding, not bit for bit.

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

from ..utils.precision import autocast_enabled, backward_outside_autocast
from . import loader as native

MIN_MACS = 1 << 20  # below about a million multiply-adds the op's fixed cost (~0.1 ms) outweighs its speed
# From this many outputs N the one product [x, 1]^T g beats mm + sum (+ the copy into a column-major weight's
# layout): 0.82-0.91 of their time for N 2,048-10,000 and M 700-10,000, 0.95 at N ~1,000, but 1.1-2.4x theirs
# at N 100-300 (medians, 2 threads, AVX-512 EPYC)
COLUMN_MAJOR_FROM = 1024


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``torch.nn.functional.linear(x, weight, bias)``: x (..., K), weight (N, K), bias (N,) -> (..., N)."""
    if not _applies(x, weight, bias):
        return nn.functional.linear(x, weight, bias)
    inputs = (x, weight) if bias is None else (x, weight, bias)
    if torch.is_grad_enabled() and any(t.requires_grad for t in inputs):
        return _OneDnnLinear.apply(x, weight, bias)
    return _product(x.reshape(-1, x.shape[-1]), weight, bias).reshape(*x.shape[:-1], weight.shape[0])


class Linear(nn.Linear):
    """``torch.nn.Linear`` that runs :func:`linear` (same arguments, parameters, state dict and repr).

    With ``out_features >= COLUMN_MAJOR_FROM`` (an output layer over a vocabulary) its weight (N, K) is stored
    column-major (strides (1, N); ``weight.t()`` is contiguous): the values, shape and state dict are
    ``nn.Linear``'s, but on the oneDNN path the backward computes dL/dW and dL/db in one product whose result
    already has the weight's layout, so it becomes the weight's gradient without a copy. Narrower layers keep
    ``nn.Linear``'s row-major weight (there ``mm`` and a sum are as fast or faster). A weight assigned later
    (a tied embedding's, ``load_state_dict(assign=True)``) keeps its own layout, and the backward follows it."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(in_features, out_features, bias, device, dtype)
        if out_features >= COLUMN_MAJOR_FROM:
            self.weight = nn.Parameter(self.weight.detach().t().contiguous().t())

    def forward(self, input: Tensor) -> Tensor:
        return linear(input, self.weight, self.bias)


def _applies(x: Tensor, weight: Tensor, bias: Tensor | None) -> bool:
    if not native.enabled() or torch.compiler.is_compiling():  # first: the shape tests below would guard a trace
        return False
    if not torch.backends.mkldnn.enabled or autocast_enabled("cpu"):  # torch's switches; autocast's dtype
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
    @backward_outside_autocast
    def backward(ctx, grad_out: Tensor) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
        rows, weight = ctx.saved_tensors
        grad = grad_out.reshape(-1, weight.shape[0])  # (M, N)
        grad_x = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_x = _product(grad, weight.t(), None).reshape(ctx.x_shape)  # g W
        wants_bias = ctx.has_bias and ctx.needs_input_grad[2]
        if ctx.needs_input_grad[1] and is_column_major(weight):
            grad_weight, grad_bias = _weight_and_bias_grads(rows, grad, wants_bias)
        elif ctx.needs_input_grad[1]:
            grad_weight = grad.t().mm(rows)  # g^T x
        if wants_bias and grad_bias is None:
            grad_bias = grad.sum(0)
        return grad_x, grad_weight, grad_bias


def is_column_major(weight: Tensor) -> bool:
    """Whether a 2-D weight is stored column by column: its transpose contiguous, strides (1, rows)."""
    return weight.dim() == 2 and weight.shape[0] > 1 and weight.shape[1] > 1 and weight.t().is_contiguous()


def _weight_and_bias_grads(rows: Tensor, grad: Tensor, with_bias: bool) -> tuple[Tensor, Tensor | None]:
    """dL/dW for a column-major W, and dL/db, from one oneDNN product.

    [x, 1]^T (K+1, M) times g (M, N) is (K+1, N): its first K rows are (g^T x)^T, i.e. dL/dW laid out as the
    weight is (no copy when it becomes the weight's gradient), and its last row is Σ_rows g = dL/db (no separate
    pass over g for the bias)."""
    m, k = rows.shape
    lhs = torch.empty((k + with_bias, m), dtype=rows.dtype)
    lhs[:k].copy_(rows.t())
    if with_bias:
        lhs[k].fill_(1.0)
    out = _product(lhs, grad.t(), None)  # lhs @ g: the op multiplies by its weight's transpose
    return out[:k].t(), (out[k] if with_bias else None)
