"""LSTM over a sequence: forward with caches, and backpropagation through time by hand.

Forward, gate order i, f, g, o as torch (σ = sigmoid; ``h_0, c_0`` given)::

    [ĩ, f̃, g̃, õ] = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh     (B, 4H)
    i = σ(ĩ)   f = σ(f̃)   g = tanh(g̃)   o = σ(õ)
    c_t = f ⊙ c_{t-1} + i ⊙ g
    h_t = o ⊙ tanh(c_t)

Backward, for t = T..1. The gradients reaching ``h_t`` and ``c_t`` are the vertical part (the
output ``y_t = h_t``) plus the horizontal part (from step t+1; at t = T the final-state gradients)::

    dh_t  = dy_t + dh_next
    dc_t  = dc_next + dh_t ⊙ o ⊙ (1 - tanh²(c_t))
    do    = dh_t ⊙ tanh(c_t)     di = dc_t ⊙ g     dg = dc_t ⊙ i     df = dc_t ⊙ c_{t-1}
    d_gates_t = [di ⊙ i(1-i), df ⊙ f(1-f), dg ⊙ (1-g²), do ⊙ o(1-o)]       (B, 4H)
    dh_next ← W_hhᵀ d_gates_t          dc_next ← dc_t ⊙ f
    dW_ih = Σ_t d_gates_tᵀ x_t     dW_hh = Σ_t d_gates_tᵀ h_{t-1}     db_ih = db_hh = Σ_t Σ_batch d_gates_t
    dx_t  = W_ihᵀ d_gates_t

The weight gradients and ``dx`` are one GEMM each over all T*B rows; only ``W_hhᵀ d_gates_t``
runs inside the loop. With ``lengths`` (semantics of :class:`seqmodels.layers.Recurrent`) a padded
step carries ``(h, c)`` unchanged and outputs zero: there ``d_gates_t = 0`` and ``dh_next, dc_next``
pass straight through.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor
from torch.nn.functional import linear

from .common import LSTMGrads, check_recurrence_args, grad_or_zeros, initial_state, linear_grads, stack_steps


class LSTMCache(NamedTuple):
    """What :func:`lstm_backward` needs from :func:`lstm_forward`."""

    x: Tensor  # (T, B, I) inputs
    h_prev: Tensor  # (T, B, H) h_{t-1} entering each step (after masking)
    c_prev: Tensor  # (T, B, H) c_{t-1} entering each step (after masking)
    gates: Tensor  # (T, B, 4H) activated gates [i, f, g, o]
    tanh_c: Tensor  # (T, B, H) tanh(c_t) of each step, before masking
    mask: Tensor | None  # (T, B, 1) True at real steps, or None without lengths
    weight_ih: Tensor  # (4H, I)
    weight_hh: Tensor  # (4H, H)
    has_bias_ih: bool
    has_bias_hh: bool


def lstm_forward(
    x: Tensor,
    h0: Tensor | None,
    c0: Tensor | None,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor | None = None,
    bias_hh: Tensor | None = None,
    lengths: Tensor | None = None,
) -> tuple[Tensor, tuple[Tensor, Tensor], LSTMCache]:
    """Run an LSTM over ``x`` and keep the caches for :func:`lstm_backward`.

    Args:
        x: (T, B, I) inputs, time-major.
        h0, c0: (B, H) initial state, or ``None`` for zeros.
        weight_ih: (4H, I).  weight_hh: (4H, H).  bias_ih, bias_hh: (4H,) or ``None``.
        lengths: optional (B,) integer lengths in [1, T].

    Returns:
        ``(outputs (T, B, H), (h_n, c_n) each (B, H), cache)``; outputs are zero past each
        sequence's end and ``(h_n, c_n)`` is each sequence's state at its last real step.
    """
    H, mask = check_recurrence_args(x, weight_ih, weight_hh, bias_ih, bias_hh, 4, lengths)
    h = initial_state("h0", h0, x, H)
    c = initial_state("c0", c0, x, H)
    x_proj = linear(x, weight_ih, bias_ih).unbind(0)  # T × (B, 4H), one GEMM
    masks = [None] * len(x_proj) if mask is None else mask.unbind(0)
    h_prev, c_prev, gates, tanh_cs = [], [], [], []
    for xp_t, m_t in zip(x_proj, masks):
        pre_i, pre_f, pre_g, pre_o = (xp_t + linear(h, weight_hh, bias_hh)).chunk(4, dim=1)
        i, f, g, o = torch.sigmoid(pre_i), torch.sigmoid(pre_f), torch.tanh(pre_g), torch.sigmoid(pre_o)
        c_t = f * c + i * g
        tanh_c = torch.tanh(c_t)
        h_t = o * tanh_c
        h_prev.append(h)
        c_prev.append(c)
        gates.append(torch.cat([i, f, g, o], dim=1))
        tanh_cs.append(tanh_c)
        if m_t is None:
            h, c = h_t, c_t
        else:
            h, c = torch.where(m_t, h_t, h), torch.where(m_t, c_t, c)
    B = x.shape[1]
    gates_all = stack_steps(gates, (B, 4 * H), x)  # (T, B, 4H)
    tanh_c_all = stack_steps(tanh_cs, (B, H), x)  # (T, B, H)
    outputs = gates_all[..., 3 * H :] * tanh_c_all  # (T, B, H): h_t = o ⊙ tanh(c_t)
    if mask is not None:
        outputs = outputs.masked_fill(~mask, 0.0)
    cache = LSTMCache(
        x,
        stack_steps(h_prev, (B, H), x),
        stack_steps(c_prev, (B, H), x),
        gates_all,
        tanh_c_all,
        mask,
        weight_ih,
        weight_hh,
        bias_ih is not None,
        bias_hh is not None,
    )
    return outputs, (h, c), cache


def lstm_backward(
    grad_outputs: Tensor | None, grad_h_n: Tensor | None, grad_c_n: Tensor | None, cache: LSTMCache
) -> LSTMGrads:
    """Backpropagation through time for :func:`lstm_forward`, step by step.

    Args:
        grad_outputs: (T, B, H) gradient of the outputs, or ``None`` for zeros.
        grad_h_n, grad_c_n: (B, H) gradients of the final state, or ``None`` for zeros.
        cache: the third value :func:`lstm_forward` returned.

    Returns:
        :class:`~seqmodels.functional.common.LSTMGrads`
        ``(x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh)``.
    """
    mask, W_hh = cache.mask, cache.weight_hh
    shape = cache.tanh_c.shape  # (T, B, H)
    grad_outputs = grad_or_zeros("grad_outputs", grad_outputs, shape, cache.x)
    dh_next = grad_or_zeros("grad_h_n", grad_h_n, shape[1:], cache.x)
    dc_next = grad_or_zeros("grad_c_n", grad_c_n, shape[1:], cache.x)
    masks = [None] * shape[0] if mask is None else mask.unbind(0)
    steps = zip(cache.gates.unbind(0), cache.tanh_c.unbind(0), cache.c_prev.unbind(0), grad_outputs.unbind(0), masks)
    d_gates_steps = []  # d_gates_t, collected from t = T down to 1
    for gates_t, tanh_c, c_prev, dy_t, m_t in reversed(list(steps)):
        i, f, g, o = gates_t.chunk(4, dim=1)
        dh = dy_t + dh_next  # vertical + horizontal
        if m_t is not None:
            dh = dh.masked_fill(~m_t, 0.0)  # padded step: the cell did not run...
            carried_h = dh_next.masked_fill(m_t, 0.0)  # ...and the state passed straight through
            carried_c = dc_next.masked_fill(m_t, 0.0)
            dc_next = dc_next.masked_fill(~m_t, 0.0)
        dc = dc_next + dh * o * (1 - tanh_c * tanh_c)
        do = dh * tanh_c
        di = dc * g
        dg = dc * i
        df = dc * c_prev
        d_gates = torch.cat([di * i * (1 - i), df * f * (1 - f), dg * (1 - g * g), do * o * (1 - o)], dim=1)
        dh_next = d_gates.mm(W_hh)  # W_hhᵀ d_gates (row form)
        dc_next = dc * f
        if m_t is not None:
            dh_next = dh_next + carried_h
            dc_next = dc_next + carried_c
        d_gates_steps.append(d_gates)
    d_gates_steps.reverse()
    D = stack_steps(d_gates_steps, cache.gates.shape[1:], cache.x)  # (T, B, 4H)
    dW_ih, db_ih = linear_grads(D, cache.x, cache.has_bias_ih)  # one GEMM over T*B rows
    dW_hh, db_hh = linear_grads(D, cache.h_prev, cache.has_bias_hh)  # one GEMM over T*B rows
    dx = D.matmul(cache.weight_ih)  # (T, B, I)
    return LSTMGrads(dx, dh_next, dc_next, dW_ih, dW_hh, db_ih, db_hh)
