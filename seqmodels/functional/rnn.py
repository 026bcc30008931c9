"""Vanilla (Elman) RNN over a sequence: forward with caches, and backpropagation through time by hand.

Forward, for t = 1..T (time-major, batched; ``a_0 = h0``)::

    z_t = W_ih x_t + b_ih + W_hh a_{t-1} + b_hh          (B, H)
    a_t = φ(z_t),   φ = tanh or relu

Backward. The gradient reaching ``a_t`` is the sum of a *vertical* part, from the output
``y_t = a_t``, and a *horizontal* part, from the next step::

    da_t    = dy_t + da_next                              (da_next of step T is grad_final_state)
    dtanh_t = da_t ⊙ (1 - a_t²)                           (relu: da_t ⊙ [a_t > 0])
    dW_ih   = Σ_t dtanh_tᵀ x_t          dW_hh = Σ_t dtanh_tᵀ a_{t-1}
    db_ih   = db_hh = Σ_t Σ_batch dtanh_t
    dx_t    = W_ihᵀ dtanh_t             da_next ← W_hhᵀ dtanh_t   (the gradient reaching a_{t-1})

(written for row-vector batches, ``dW_ih = Σ_t dtanh_tᵀ · x_t`` is the column form
``dW_ax = dtanh·x_tᵀ``). Only the ``W_hhᵀ dtanh_t`` product runs inside the time loop; the weight
gradients and ``dx`` are one GEMM each over all T*B rows (see :mod:`seqmodels.functional.common`).

With ``lengths`` the semantics are those of :class:`seqmodels.layers.Recurrent`: at a padded step
(``t >= lengths[b]``) the state is carried unchanged and the output is zero, so there
``da_t = 0`` and the horizontal gradient passes straight through to ``a_{t-1}``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor
from torch.nn.functional import linear

from .common import Grads, check_recurrence_args, grad_or_zeros, initial_state, linear_grads, stack_steps

NONLINEARITIES = ("tanh", "relu")


class RNNCache(NamedTuple):
    """What :func:`rnn_backward` needs from :func:`rnn_forward`."""

    x: Tensor  # (T, B, I) inputs
    h_prev: Tensor  # (T, B, H) the state entering each step, a_{t-1} (after masking)
    a: Tensor  # (T, B, H) each step's activation φ(z_t), before masking
    mask: Tensor | None  # (T, B, 1) True at real steps, or None without lengths
    weight_ih: Tensor  # (H, I)
    weight_hh: Tensor  # (H, H)
    has_bias_ih: bool
    has_bias_hh: bool
    nonlinearity: str


def rnn_forward(
    x: Tensor,
    h0: Tensor | None,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor | None = None,
    bias_hh: Tensor | None = None,
    lengths: Tensor | None = None,
    nonlinearity: str = "tanh",
) -> tuple[Tensor, Tensor, RNNCache]:
    """Run a vanilla RNN over ``x`` and keep the caches for :func:`rnn_backward`.

    Args:
        x: (T, B, I) inputs, time-major.
        h0: (B, H) initial state, or ``None`` for zeros.
        weight_ih: (H, I).  weight_hh: (H, H).  bias_ih, bias_hh: (H,) or ``None``.
        lengths: optional (B,) integer lengths in [1, T].
        nonlinearity: ``"tanh"`` or ``"relu"``, as ``torch.nn.RNN``.

    Returns:
        ``(outputs (T, B, H), h_n (B, H), cache)``; outputs are zero past each sequence's end and
        ``h_n`` is each sequence's state at its last real step.
    """
    if nonlinearity not in NONLINEARITIES:
        raise ValueError(f"nonlinearity must be one of {list(NONLINEARITIES)}, got {nonlinearity!r}")
    H, mask = check_recurrence_args(x, weight_ih, weight_hh, bias_ih, bias_hh, 1, lengths)
    phi = torch.tanh if nonlinearity == "tanh" else torch.relu
    h = initial_state("h0", h0, x, H)
    x_proj = linear(x, weight_ih, bias_ih).unbind(0)  # T × (B, H): W_ih x_t + b_ih, one GEMM
    masks = [None] * len(x_proj) if mask is None else mask.unbind(0)
    h_prev, acts = [], []
    for xp_t, m_t in zip(x_proj, masks):
        a_t = phi(xp_t + linear(h, weight_hh, bias_hh))
        h_prev.append(h)
        acts.append(a_t)
        h = a_t if m_t is None else torch.where(m_t, a_t, h)
    B = x.shape[1]
    a = stack_steps(acts, (B, H), x)  # (T, B, H)
    outputs = a if mask is None else a.masked_fill(~mask, 0.0)
    cache = RNNCache(
        x,
        stack_steps(h_prev, (B, H), x),
        a,
        mask,
        weight_ih,
        weight_hh,
        bias_ih is not None,
        bias_hh is not None,
        nonlinearity,
    )
    return outputs, h, cache


def rnn_backward(grad_outputs: Tensor | None, grad_h_n: Tensor | None, cache: RNNCache) -> Grads:
    """Backpropagation through time for :func:`rnn_forward`, step by step.

    Args:
        grad_outputs: (T, B, H) gradient of the outputs, or ``None`` for zeros.
        grad_h_n: (B, H) gradient of the final state, or ``None`` for zeros.
        cache: the third value :func:`rnn_forward` returned.

    Returns:
        :class:`~seqmodels.functional.common.Grads` ``(x, h0, weight_ih, weight_hh, bias_ih, bias_hh)``.
    """
    a, mask, W_hh = cache.a, cache.mask, cache.weight_hh
    grad_outputs = grad_or_zeros("grad_outputs", grad_outputs, a.shape, a)  # (T, B, H)
    da_next = grad_or_zeros("grad_h_n", grad_h_n, a.shape[1:], a)  # (B, H)
    masks = [None] * len(a) if mask is None else mask.unbind(0)
    d_pre_steps = []  # dtanh_t, collected from t = T down to 1
    for a_t, dy_t, m_t in zip(reversed(a.unbind(0)), reversed(grad_outputs.unbind(0)), reversed(masks)):
        da_t = dy_t + da_next  # vertical + horizontal
        if m_t is not None:
            da_t = da_t.masked_fill(~m_t, 0.0)  # padded step: the cell did not run
            carried = da_next.masked_fill(m_t, 0.0)  # ...and the state passed straight through
        if cache.nonlinearity == "tanh":
            d_pre = da_t * (1 - a_t * a_t)  # dtanh = da ⊙ (1 - a²)
        else:
            d_pre = da_t * (a_t > 0)  # drelu = da ⊙ [a > 0]
        da_next = d_pre.mm(W_hh)  # da_prev = W_hhᵀ dtanh (row form)
        if m_t is not None:
            da_next = da_next + carried
        d_pre_steps.append(d_pre)
    d_pre_steps.reverse()
    D = stack_steps(d_pre_steps, a.shape[1:], a)  # (T, B, H)
    dW_ih, db_ih = linear_grads(D, cache.x, cache.has_bias_ih)  # Σ_t dtanh_tᵀ x_t, one GEMM
    dW_hh, db_hh = linear_grads(D, cache.h_prev, cache.has_bias_hh)  # Σ_t dtanh_tᵀ a_{t-1}, one GEMM
    dx = D.matmul(cache.weight_ih)  # (T, B, I): dx_t = W_ihᵀ dtanh_t for all t at once
    return Grads(dx, da_next, dW_ih, dW_hh, db_ih, db_hh)
