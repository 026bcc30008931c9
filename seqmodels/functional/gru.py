"""GRU over a sequence, both forms: forward with caches, and backpropagation through time by hand.

Forward, gate order r, z, n as torch (``h_0`` given; ``x̂ = W_ih x_t + b_ih`` split into
``x̂_r, x̂_z, x̂_n``)::

    r = σ(x̂_r + W_hr h + b_hr)        z = σ(x̂_z + W_hz h + b_hz)
    reset_after=True  (torch, cuDNN):  n = tanh(x̂_n + r ⊙ (W_hn h + b_hn))
    reset_after=False (textbook):      n = tanh(x̂_n + W_hn (r ⊙ h) + b_hn)
    h_t = (1 - z) ⊙ n + z ⊙ h                                   (h = h_{t-1})

Backward, for t = T..1, with ``dh_t = dy_t + dh_next`` (vertical + horizontal)::

    dn̂ = dh_t ⊙ (1 - z) ⊙ (1 - n²)              (gradient of n's pre-activation)
    dẑ = dh_t ⊙ (h - n) ⊙ z(1 - z)
    reset_after=True:   ĥ_n = W_hn h + b_hn
        dr̂ = dn̂ ⊙ ĥ_n ⊙ r(1 - r)
        d_hidden_t = [dr̂, dẑ, dn̂ ⊙ r]              gradient of W_hh h + b_hh     (B, 3H)
        dh_next ← dh_t ⊙ z + W_hhᵀ d_hidden_t
        dW_hh = Σ_t d_hidden_tᵀ h_{t-1}
    reset_after=False:
        d(r⊙h) = W_hnᵀ dn̂       dr̂ = d(r⊙h) ⊙ h ⊙ r(1 - r)
        d_hidden_t = [dr̂, dẑ, dn̂]
        dh_next ← dh_t ⊙ z + W_hrzᵀ [dr̂, dẑ] + d(r⊙h) ⊙ r
        dW_hh = [Σ_t [dr̂, dẑ]ᵀ h_{t-1} ; Σ_t dn̂ᵀ (r ⊙ h_{t-1})]
    d_input_t = [dr̂, dẑ, dn̂]                      gradient of W_ih x_t + b_ih   (B, 3H)
    dW_ih = Σ_t d_input_tᵀ x_t    db_ih = Σ d_input_t    db_hh = Σ d_hidden_t    dx_t = W_ihᵀ d_input_t

The weight gradients and ``dx`` are GEMMs over all T*B rows after the loop (two for ``dW_hh`` in the
textbook form, whose r,z rows and n rows multiply different inputs). With ``lengths``
(semantics of :class:`seqmodels.layers.Recurrent`) a padded step carries h unchanged and outputs
zero: there the gate gradients are zero and ``dh_next`` passes straight through.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor
from torch.nn.functional import linear

from .common import Grads, check_recurrence_args, grad_or_zeros, initial_state, linear_grads, stack_steps


class GRUCache(NamedTuple):
    """What :func:`gru_backward` needs from :func:`gru_forward`."""

    x: Tensor  # (T, B, I) inputs
    h_prev: Tensor  # (T, B, H) h_{t-1} entering each step (after masking)
    gates: Tensor  # (T, B, 3H) [r, z, n] of each step
    hidden_n: Tensor  # (T, B, H) reset_after: W_hn h + b_hn; textbook: r ⊙ h_{t-1}
    mask: Tensor | None  # (T, B, 1) True at real steps, or None without lengths
    weight_ih: Tensor  # (3H, I)
    weight_hh: Tensor  # (3H, H)
    has_bias_ih: bool
    has_bias_hh: bool
    reset_after: bool


def gru_forward(
    x: Tensor,
    h0: Tensor | None,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor | None = None,
    bias_hh: Tensor | None = None,
    lengths: Tensor | None = None,
    reset_after: bool = True,
) -> tuple[Tensor, Tensor, GRUCache]:
    """Run a GRU over ``x`` and keep the caches for :func:`gru_backward`.

    Args:
        x: (T, B, I) inputs, time-major.
        h0: (B, H) initial state, or ``None`` for zeros.
        weight_ih: (3H, I).  weight_hh: (3H, H).  bias_ih, bias_hh: (3H,) or ``None``.
        lengths: optional (B,) integer lengths in [1, T].
        reset_after: torch's form (True) or the textbook form (False), as
            :class:`seqmodels.cells.GRUCell`.

    Returns:
        ``(outputs (T, B, H), h_n (B, H), cache)``; outputs are zero past each sequence's end and
        ``h_n`` is each sequence's state at its last real step.
    """
    if not isinstance(reset_after, bool):
        raise ValueError(f"reset_after must be True or False, got {reset_after!r}")
    H, mask = check_recurrence_args(x, weight_ih, weight_hh, bias_ih, bias_hh, 3, lengths)
    h = initial_state("h0", h0, x, H)
    x_proj = linear(x, weight_ih, bias_ih).unbind(0)  # T × (B, 3H), one GEMM
    masks = [None] * len(x_proj) if mask is None else mask.unbind(0)
    if not reset_after:
        w_rz, w_n = weight_hh.split((2 * H, H))
        b_rz, b_n = (None, None) if bias_hh is None else bias_hh.split((2 * H, H))
    h_prev, gates, hidden_ns = [], [], []
    for xp_t, m_t in zip(x_proj, masks):
        x_r, x_z, x_n = xp_t.chunk(3, dim=1)
        if reset_after:
            h_r, h_z, hidden_n = linear(h, weight_hh, bias_hh).chunk(3, dim=1)
            r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
            n = torch.tanh(x_n + r * hidden_n)
        else:
            h_r, h_z = linear(h, w_rz, b_rz).chunk(2, dim=1)
            r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
            hidden_n = r * h
            n = torch.tanh(x_n + linear(hidden_n, w_n, b_n))
        h_t = (1 - z) * n + z * h
        h_prev.append(h)
        gates.append(torch.cat([r, z, n], dim=1))
        hidden_ns.append(hidden_n)
        h = h_t if m_t is None else torch.where(m_t, h_t, h)
    B = x.shape[1]
    gates_all = stack_steps(gates, (B, 3 * H), x)  # (T, B, 3H)
    h_prev_all = stack_steps(h_prev, (B, H), x)  # (T, B, H)
    _, z_all, n_all = gates_all.chunk(3, dim=2)
    outputs = (1 - z_all) * n_all + z_all * h_prev_all  # (T, B, H): every step's h_t
    if mask is not None:
        outputs = outputs.masked_fill(~mask, 0.0)
    cache = GRUCache(
        x,
        h_prev_all,
        gates_all,
        stack_steps(hidden_ns, (B, H), x),
        mask,
        weight_ih,
        weight_hh,
        bias_ih is not None,
        bias_hh is not None,
        reset_after,
    )
    return outputs, h, cache


def gru_backward(grad_outputs: Tensor | None, grad_h_n: Tensor | None, cache: GRUCache) -> Grads:
    """Backpropagation through time for :func:`gru_forward`, step by step.

    Args:
        grad_outputs: (T, B, H) gradient of the outputs, or ``None`` for zeros.
        grad_h_n: (B, H) gradient of the final state, or ``None`` for zeros.
        cache: the third value :func:`gru_forward` returned.

    Returns:
        :class:`~seqmodels.functional.common.Grads` ``(x, h0, weight_ih, weight_hh, bias_ih, bias_hh)``.
    """
    mask, W_hh = cache.mask, cache.weight_hh
    shape = cache.h_prev.shape  # (T, B, H)
    H = shape[2]
    grad_outputs = grad_or_zeros("grad_outputs", grad_outputs, shape, cache.x)
    dh_next = grad_or_zeros("grad_h_n", grad_h_n, shape[1:], cache.x)
    w_rz, w_n = W_hh.split((2 * H, H))
    masks = [None] * shape[0] if mask is None else mask.unbind(0)
    steps = zip(cache.gates.unbind(0), cache.hidden_n.unbind(0), cache.h_prev.unbind(0), grad_outputs.unbind(0), masks)
    d_input_steps = []  # [dr̂, dẑ, dn̂] of each step, collected from t = T down to 1
    for gates_t, hidden_n, h, dy_t, m_t in reversed(list(steps)):
        r, z, n = gates_t.chunk(3, dim=1)
        dh = dy_t + dh_next  # vertical + horizontal
        if m_t is not None:
            dh = dh.masked_fill(~m_t, 0.0)  # padded step: the cell did not run...
            carried = dh_next.masked_fill(m_t, 0.0)  # ...and the state passed straight through
        dn_pre = dh * (1 - z) * (1 - n * n)
        dz_pre = dh * (h - n) * z * (1 - z)
        if cache.reset_after:
            dr_pre = dn_pre * hidden_n * r * (1 - r)
            d_hidden = torch.cat([dr_pre, dz_pre, dn_pre * r], dim=1)  # (B, 3H)
            dh_next = dh * z + d_hidden.mm(W_hh)
        else:
            d_rh = dn_pre.mm(w_n)  # d(r ⊙ h)
            dr_pre = d_rh * h * r * (1 - r)
            dh_next = dh * z + torch.cat([dr_pre, dz_pre], dim=1).mm(w_rz) + d_rh * r
        if m_t is not None:
            dh_next = dh_next + carried
        d_input_steps.append(torch.cat([dr_pre, dz_pre, dn_pre], dim=1))
    d_input_steps.reverse()
    D_in = stack_steps(d_input_steps, cache.gates.shape[1:], cache.x)  # (T, B, 3H)
    dW_ih, db_ih = linear_grads(D_in, cache.x, cache.has_bias_ih)  # one GEMM over T*B rows
    if cache.reset_after:
        r_all = cache.gates[..., :H]
        D_hid = torch.cat([D_in[..., : 2 * H], D_in[..., 2 * H :] * r_all], dim=2)  # (T, B, 3H)
        dW_hh, db_hh = linear_grads(D_hid, cache.h_prev, cache.has_bias_hh)  # one GEMM
    else:
        dW_rz, db_rz = linear_grads(D_in[..., : 2 * H], cache.h_prev, cache.has_bias_hh)
        dW_n, db_n = linear_grads(D_in[..., 2 * H :], cache.hidden_n, cache.has_bias_hh)
        dW_hh = torch.cat([dW_rz, dW_n])
        db_hh = torch.cat([db_rz, db_n]) if db_rz is not None and db_n is not None else None  # has_bias_hh
    dx = D_in.matmul(cache.weight_ih)  # (T, B, I)
    return Grads(dx, dh_next, dW_ih, dW_hh, db_ih, db_hh)
