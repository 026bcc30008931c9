"""The vanilla RNN of the fast ``custom`` backend: its autograd Function, ATen-op loops and C-loop drivers.

``h_t = φ(x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh)`` with φ = tanh or relu, the equations of
:func:`seqmodels.functional.rnn_forward`. ``rnn_sequence`` always runs :class:`RNNRecurrence`, whose forward
and backward run either :func:`c_loop_forward` / :func:`c_loop_backward` — on CPU, without a mask, with the
C kernels and torch's BLAS found (``kernels.blas``): the whole time loop in C, training and inference alike —
or :func:`aten_forward` / :func:`aten_backward`, ATen ops per step (everywhere else; on a GPU captured once
per input signature and replayed by :mod:`.cuda_graphs`). The RNN has no Python-driven loop over C step
kernels: its step is one GEMM and one activation, which ATen does in two ops.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..utils.precision import autocast_enabled, backward_outside_autocast, outside_autocast
from . import cuda_graphs, loader
from .common import (
    hidden_weight_grad,
    input_grads,
    input_projection,
    scratch,
    step_views,
    sum_bias,
    transposed,
)


class RNNRecurrence(torch.autograd.Function):
    """``(x (T,B,I), h0, W_ih (H,I), W_hh (H,H), b = b_ih + b_hh | None, relu: bool, mask|None) -> (out, h_n)``.

    Backward: ``dz_t = dh_t ⊙ φ'(a_t)`` with ``φ' = 1 - a²`` (tanh) or ``[a > 0]`` (relu) made for all
    steps at once, and ``dh_{t-1} = dy_{t-1} + dz_t W_hh``.
    """

    @staticmethod
    def forward(
        ctx,
        x: Tensor,
        h0: Tensor,
        weight_ih: Tensor,
        weight_hh: Tensor,
        bias: Tensor | None,
        relu: bool,
        mask: Tensor | None,
    ):
        ctx.relu, ctx.has_bias = relu, bias is not None
        kernels = loader.kernels(x, h0, weight_hh)
        # on CPU without a mask, with torch's BLAS reachable: the whole loop in C
        ctx.native = kernels if kernels is not None and kernels.blas is not None and mask is None else None
        if ctx.native is not None:
            act = input_projection(x, weight_ih, bias)  # X̂ + b, then a_t in place
            c_loop_forward(ctx.native, act, transposed(weight_hh), h0, relu)
            ctx.save_for_backward(x, act, h0, weight_ih, weight_hh, None, None)
            return act, (act[-1] if len(act) else h0)
        out, h, act, h_prev = cuda_graphs.run(aten_forward, (x, h0, weight_ih, weight_hh, bias, mask), (relu,))
        out = act if out is None else out
        ctx.save_for_backward(x, act, h0, weight_ih, weight_hh, h_prev, mask)
        return out, h

    @staticmethod
    @torch.autograd.function.once_differentiable  # the BPTT writes into buffers: no graph of its own
    @backward_outside_autocast
    def backward(ctx, d_out: Tensor | None, d_hn: Tensor | None):
        x, act, h0, weight_ih, weight_hh, h_prev, mask = ctx.saved_tensors
        if ctx.native is not None and len(act):
            D, dh0 = c_loop_backward(ctx.native, act, weight_hh, d_out, d_hn, ctx.relu)
            d_x, d_w_ih, d_b = input_grads(ctx.needs_input_grad[0], D, x, weight_ih, ctx.has_bias)
            return d_x, dh0, d_w_ih, hidden_weight_grad(D, act, h0), d_b, None, None
        grads = cuda_graphs.run(
            aten_backward,
            (x, act, h0, weight_ih, weight_hh, h_prev, mask, d_out, d_hn),
            (ctx.relu, ctx.needs_input_grad[0], ctx.has_bias),
        )
        return (*grads, None, None)


def aten_forward(
    x: Tensor, h0: Tensor, weight_ih: Tensor, weight_hh: Tensor, bias: Tensor | None, mask: Tensor | None, relu: bool
) -> tuple[Tensor | None, Tensor, Tensor, Tensor | None]:
    """RNN forward, ATen ops per step: ``(out, h_n, act, h_prev)``.

    ``act`` (T, B, H) the activations φ(z_t) before masking; ``out`` the masked outputs, None without a mask
    (they are ``act``: one tensor, not a second copy out of a CUDA graph); ``h_prev`` the states entering each
    step with a mask, else None.
    """
    act = input_projection(x, weight_ih, bias)  # X̂, then a_t = φ(z_t) in place
    T, B, H = act.shape
    w_t = transposed(weight_hh)
    out = act if mask is None else act.new_empty(T, B, H)
    h_prev = act.new_empty(T, B, H) if mask is not None else None
    h = h0
    for t, (a_t,) in enumerate(step_views(act)):
        a_t.addmm_(h, w_t)
        a_t.relu_() if relu else a_t.tanh_()
        if mask is None:
            h = a_t
        else:
            assert h_prev is not None  # allocated with the mask
            m = mask[t]
            h_prev[t].copy_(h)
            h = torch.where(m, a_t, h)
            torch.mul(a_t, m, out=out[t])
    return (None if mask is None else out), h, act, h_prev


def aten_backward(
    x: Tensor,
    act: Tensor,
    h0: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    h_prev: Tensor | None,
    mask: Tensor | None,
    d_out: Tensor | None,
    d_hn: Tensor | None,
    relu: bool,
    need_d_x: bool,
    has_bias: bool,
):
    """RNN BPTT on :func:`aten_forward`'s results: ``(dx, dh0, dW_ih, dW_hh, db)``."""
    T, B, H = act.shape
    d_out = act.new_zeros(T, B, H) if d_out is None else d_out
    dh_state = h0.new_zeros(B, H) if d_hn is None else d_hn
    if mask is None:
        h_prev = torch.cat([h0[None], act[:-1]])
    assert h_prev is not None  # saved by the forward with a mask, else rebuilt here
    deriv = (act > 0).to(act.dtype) if relu else 1 - act * act
    D = act.new_empty(T, B, H)  # dz_t, the pre-activation gradients
    views = step_views(D, deriv, d_out)
    dh = dh_state + d_out[T - 1] if T else dh_state
    for t in range(T - 1, -1, -1):
        D_t, deriv_t, dy_t = views[t]
        if mask is None:
            torch.mul(dh, deriv_t, out=D_t)
            dh = torch.addmm(d_out[t - 1], D_t, weight_hh) if t > 0 else D_t.mm(weight_hh)
        else:
            m = mask[t]
            torch.mul((dh_state + dy_t).masked_fill_(~m, 0.0), deriv_t, out=D_t)
            dh_state = torch.addmm(dh_state.masked_fill(m, 0.0), D_t, weight_hh)
    if mask is None:
        dh_state = dh
    d_w_hh = D.reshape(T * B, H).t().mm(h_prev.reshape(T * B, H))  # one GEMM over T·B rows
    d_x, d_w_ih, d_b = input_grads(need_d_x, D, x, weight_ih, has_bias)
    return d_x, dh_state, d_w_ih, d_w_hh, d_b


def c_loop_forward(kernels, act, w_t, h0, relu):
    """The unmasked vanilla RNN forward as one C loop (``rnn_fwd_loop``): ``act`` (T, B, H) holds
    ``X W_ihᵀ + b`` and leaves as the activations; ``w_t`` = W_hhᵀ, contiguous.

    Only with ``kernels.blas`` (the RNN has no Python-driven native loop: without the C loops it runs
    :func:`aten_forward`).
    """
    T, B, H = act.shape
    if T:
        h0 = h0.contiguous()
        kernels.rnn_fwd_loop(T, B, H, kernels.blas, act.data_ptr(), w_t.data_ptr(), h0.data_ptr(), int(relu))


def c_loop_backward(kernels, act, weight_hh, d_out, d_hn, relu):
    """BPTT through :func:`c_loop_forward` (``rnn_bwd_loop``): ``D`` (T, B, H), the pre-activation gradients,
    and the gradient of h0."""
    T, B, H = act.shape
    zeros = act.new_zeros(B, H)  # the output gradient of steps that have none
    if d_out is not None:
        d_out = d_out.contiguous()  # kept alive by this name while its address is in use
    dy_at, dy_step = (zeros.data_ptr(), 0) if d_out is None else (d_out.data_ptr(), B * H)
    dh = zeros.clone() if d_hn is None else d_hn.clone(memory_format=torch.contiguous_format)  # overwritten
    if d_out is not None:
        dh += d_out[T - 1]
    D, dh0, weight_hh = scratch("rnn_backward", act, T, B, H), act.new_empty(B, H), weight_hh.contiguous()
    kernels.rnn_bwd_loop(
        T,
        B,
        H,
        kernels.blas,
        act.data_ptr(),
        weight_hh.data_ptr(),
        dy_at,
        dy_step,
        dh.data_ptr(),
        D.data_ptr(),
        dh0.data_ptr(),
        int(relu),
    )
    return D, dh0


def rnn_sequence(
    x: Tensor,
    h0: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor | None,
    bias_hh: Tensor | None,
    mask: Tensor | None = None,
    nonlinearity: str = "tanh",
):
    """Fast vanilla RNN over x (T, B, I): ``(out (T,B,H), h_n)``; under ``torch.autocast`` outside it, in
    ``weight_hh``'s dtype (:mod:`seqmodels.utils.precision`)."""
    if autocast_enabled(x.device.type):
        return outside_autocast(
            rnn_sequence,
            weight_hh.dtype,
            x,
            h0,
            weight_ih,
            weight_hh,
            bias_ih,
            bias_hh,
            mask,
            nonlinearity=nonlinearity,
        )
    bias = sum_bias(bias_ih, bias_hh)
    return RNNRecurrence.apply(x, h0, weight_ih, weight_hh, bias, nonlinearity == "relu", mask)
