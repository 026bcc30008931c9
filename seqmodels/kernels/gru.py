"""The GRU of the fast ``custom`` backend: its autograd Function, ATen-op loops and C-loop drivers.

Torch's form of the GRU (reset after the matmul), the equations of :func:`seqmodels.functional.gru_forward` /
``gru_backward``; :class:`GRURecurrence`'s docstring has them as they are computed here. ``gru_sequence``
runs one of these loops:

* when autograd records the call, :class:`GRURecurrence`, whose forward and backward run either
  :func:`c_loop_forward` / :func:`c_loop_backward` on CPU with the C kernels (:mod:`.loader`) — each step one
  GEMM and one fused kernel call (``gru_fwd`` / ``gru_fwd_masked``, …), the whole loop in C when torch's BLAS
  was found (``kernels.blas``), else driven from Python — or :func:`aten_forward` / :func:`aten_backward`, ATen
  ops per step, which on a GPU :mod:`.cuda_graphs` captures once per input signature and replays;
* when nothing needs gradients, on CPU with the C kernels, :func:`c_inference`: the same step kernels, driven
  from Python, keeping nothing for a backward.

Layouts: the gates (T, B, 3H) [r z ĥ_n]; the backward's ``E`` (T, B, 4H) = [dn̂ ⊙ r, dr̂, dẑ, dn̂] in the C
loops, whose last 3H columns are ``dX̂`` in torch's order (r, z, n) and whose first 3H columns are the
gradient of ``W_hh h + b_hh`` with rows in the order (n, r, z) (put back by :func:`nrz_to_rzn`). With a mask
(T, B, 1) (sequences shorter than T; a padded step keeps the state and outputs zero) the C loops keep the
states entering each step in a (T+1, B, H) buffer, the last row being the final state.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..utils.precision import autocast_enabled, backward_outside_autocast, outside_autocast
from . import cuda_graphs, loader
from .common import (
    addresses,
    chunk_steps,
    chunked_projections,
    hidden_weight_grad,
    input_grads,
    input_projection,
    needs_grad,
    scratch,
    step_views,
    transposed,
)


class GRURecurrence(torch.autograd.Function):
    """Torch-form GRU (reset after the matmul).

    ``(x (T,B,I), h0, W_ih (3H,I), W_hh (3H,H), b_ih|None, b_hh|None, mask|None) -> (out (T,B,H), h_n)``;
    ``X̂ = X W_ihᵀ + b_ih`` split into ``x̂_r, x̂_z, x̂_n``.

    Forward per step, with ``Z_t = [x̂_r + b_hr, x̂_z + b_hz, b_hn]`` made for all steps at once::

        [r̃, z̃, ĥ_n] = Z_t + W_hh h        r, z = σ(r̃), σ(z̃)
        n = tanh(x̂_n + r ⊙ ĥ_n)          h' = n + z ⊙ (h - n)      (torch.lerp)

    Backward, with ``A_n = (1-z)(1-n²)``, ``A_z = (h-n) ⊙ z(1-z)``, ``A_r = ĥ_n ⊙ r(1-r)``
    precomputed: ``dn̂ = dh ⊙ A_n``, ``dẑ = dh ⊙ A_z``, ``dr̂ = dn̂ ⊙ A_r`` and
    ``dh_{t-1} = dy_{t-1} + dh ⊙ z + [dr̂, dẑ, dn̂ ⊙ r] W_hh``. The step's gradients go into one
    (B, 4H) row block ``[dn̂, dẑ, dr̂, dn̂ ⊙ r]`` whose last 3H columns are, in the order (z, r, n),
    the gradient of ``W_hh h + b_hh`` — so the in-loop GEMM uses ``W_hh``'s rows permuted to (z, r, n).
    """

    @staticmethod
    def forward(
        ctx,
        x: Tensor,
        h0: Tensor,
        weight_ih: Tensor,
        weight_hh: Tensor,
        bias_ih: Tensor | None,
        bias_hh: Tensor | None,
        mask: Tensor | None,
    ):
        kernels = ctx.native = loader.kernels(x, h0, weight_hh)
        ctx.has_bias_ih, ctx.has_bias_hh = bias_ih is not None, bias_hh is not None
        if kernels is None:  # ATen ops per step; on a GPU replayed from a CUDA graph
            out, h, gates, new, h_prev = cuda_graphs.run(
                aten_forward, (x, h0, weight_ih, weight_hh, bias_ih, bias_hh, mask)
            )
            ctx.save_for_backward(x, gates, new, out, h0, weight_ih, weight_hh, h_prev, mask)
            return out, h
        # X̂ (T, B, 3H), one GEMM into a buffer reused across calls (read only by the loop below); the C kernels
        # add b_ih themselves
        T, B, _ = x.shape
        x_hat = input_projection(x, weight_ih, None, out=scratch("gru_input_projection", x, T, B, weight_ih.shape[0]))
        w_t = transposed(weight_hh)
        gates, new, out, states = c_loop_forward(kernels, x_hat, w_t, bias_ih, bias_hh, h0, mask)
        ctx.save_for_backward(x, gates, new, out, h0, weight_ih, weight_hh, states, mask)
        if mask is not None:
            return out, states[T]
        return out, (out[T - 1] if T else h0)

    @staticmethod
    @torch.autograd.function.once_differentiable  # the BPTT writes into buffers: no graph of its own
    @backward_outside_autocast
    def backward(ctx, d_out: Tensor | None, d_hn: Tensor | None):
        x, gates, new, out, h0, weight_ih, weight_hh, h_prev, mask = ctx.saved_tensors
        need_d_x = ctx.needs_input_grad[0]
        if ctx.native is None:
            return (
                *cuda_graphs.run(
                    aten_backward,
                    (x, gates, new, out, h0, weight_ih, weight_hh, h_prev, mask, d_out, d_hn),
                    (need_d_x, ctx.has_bias_ih, ctx.has_bias_hh),
                ),
                None,
            )
        T, B, G = gates.shape
        H = G // 3
        # h_prev: the (T+1, B, H) state buffer of a masked forward
        E, dh_state = c_loop_backward(ctx.native, gates, new, out, h0, weight_hh, d_out, d_hn, h_prev, mask)
        # E = [dn̂ ⊙ r, dr̂, dẑ, dn̂]: columns H: are dX̂ (r, z, n); columns :3H are d(W_hh h + b_hh) in
        # the row order (n, r, z), put back into torch's (r, z, n) below
        d_x, d_w_ih, d_b_ih = input_grads(need_d_x, E[..., H:], x, weight_ih, ctx.has_bias_ih)
        if mask is None:
            d_w_hh = nrz_to_rzn(hidden_weight_grad(E[..., : 3 * H], out, h0))
        else:
            d_hid = E[..., : 3 * H].reshape(T * B, G)
            d_w_hh = nrz_to_rzn(d_hid.t().mm(h_prev[:T].reshape(T * B, H)))
        d_b_hh = nrz_to_rzn(E[..., : 3 * H].sum((0, 1))) if ctx.has_bias_hh else None
        return d_x, dh_state, d_w_ih, d_w_hh, d_b_ih, d_b_hh, None


def aten_forward(
    x: Tensor,
    h0: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor | None,
    bias_hh: Tensor | None,
    mask: Tensor | None,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor | None]:
    """GRU forward, ATen ops per step: ``(out, h_n, gates, new, h_prev)``.

    ``gates`` (T, B, 3H) the [r, z, ĥ_n] of each step, ``new`` the n, ``h_prev`` (T, B, H) the states
    entering each step with a mask, else None.
    """
    x_hat = input_projection(x, weight_ih, bias_ih)  # (T, B, 3H), one GEMM
    T, B, G = x_hat.shape
    H = G // 3
    w_t = transposed(weight_hh)
    gates = x_hat.new_empty(T, B, G)  # [x̂_r + b_hr, x̂_z + b_hz, b_hn], then [r, z, ĥ_n]
    if bias_hh is None:
        gates[..., : 2 * H] = x_hat[..., : 2 * H]
        gates[..., 2 * H :] = 0.0
    else:
        torch.add(x_hat[..., : 2 * H], bias_hh[: 2 * H], out=gates[..., : 2 * H])
        gates[..., 2 * H :] = bias_hh[2 * H :]
    new = x_hat.new_empty(T, B, H)  # n
    out = x_hat.new_empty(T, B, H)
    masked = mask is not None
    h_prev = x_hat.new_empty(T, B, H) if masked else None
    views = step_views(
        x_hat[..., 2 * H :],
        gates,
        gates[..., : 2 * H],
        gates[..., :H],
        gates[..., H : 2 * H],
        gates[..., 2 * H :],
        new,
        out,
    )
    h = h0
    for t, (xn, g_t, rz, r, z, hn, n, o_t) in enumerate(views):
        g_t.addmm_(h, w_t)
        rz.sigmoid_()
        torch.addcmul(xn, r, hn, out=n).tanh_()  # n = tanh(x̂_n + r ⊙ ĥ_n)
        torch.lerp(n, h, z, out=o_t)  # h' = n + z ⊙ (h - n)
        if not masked:
            h = o_t
        else:
            assert mask is not None and h_prev is not None  # masked
            m = mask[t]
            h_prev[t].copy_(h)
            h = torch.where(m, o_t, h)
            o_t.masked_fill_(~m, 0.0)
    return out, h, gates, new, h_prev


def aten_backward(
    x: Tensor,
    gates: Tensor,
    new: Tensor,
    out: Tensor,
    h0: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    h_prev: Tensor | None,
    mask: Tensor | None,
    d_out: Tensor | None,
    d_hn: Tensor | None,
    need_d_x: bool,
    has_bias_ih: bool,
    has_bias_hh: bool,
):
    """GRU BPTT, ATen ops per step, on :func:`aten_forward`'s results: ``(dx, dh0, dW_ih, dW_hh, db_ih, db_hh)``."""
    T, B, G = gates.shape
    H = G // 3
    d_out = out.new_zeros(T, B, H) if d_out is None else d_out
    dh_state = h0.new_zeros(B, H) if d_hn is None else d_hn
    if mask is None:
        h_prev = torch.cat([h0[None], out[:-1]])  # (T, B, H)
    assert h_prev is not None  # saved by the forward with a mask, else rebuilt here
    r, z, hn = gates.split(H, dim=-1)
    A_nz = torch.stack([(1 - z) * (1 - new * new), (h_prev - new) * z * (1 - z)], dim=2)  # (T, B, 2, H)
    A_r = hn * r * (1 - r)
    E = gates.new_empty(T, B, 4 * H)  # [dn̂, dẑ, dr̂, dn̂ ⊙ r]
    w_zrn = torch.cat([weight_hh[H : 2 * H], weight_hh[:H], weight_hh[2 * H :]])  # rows (z, r, n)
    views = step_views(
        E[..., : 2 * H].unflatten(-1, (2, H)),
        E[..., :H],
        E[..., 2 * H : 3 * H],
        E[..., 3 * H :],
        E[..., H:],
        A_nz,
        A_r,
        r,
        z,
        d_out,
    )
    dh = dh_state + d_out[T - 1] if T else dh_state
    for t in range(T - 1, -1, -1):
        E_nz, E_n, E_r, E_nr, E_hid, A_nz_t, A_r_t, r_t, z_t, dy_t = views[t]
        if mask is not None:
            m = mask[t]
            dh = (dh_state + dy_t).masked_fill_(~m, 0.0)
        torch.mul(A_nz_t, dh.unsqueeze(1), out=E_nz)  # dn̂, dẑ
        torch.mul(E_n, A_r_t, out=E_r)  # dr̂
        torch.mul(E_n, r_t, out=E_nr)  # dn̂ ⊙ r
        if mask is None:
            base = torch.addcmul(d_out[t - 1], dh, z_t) if t > 0 else dh * z_t
            dh = torch.addmm(base, E_hid, w_zrn)
        else:
            dh_state = torch.addmm(torch.addcmul(dh_state.masked_fill(m, 0.0), dh, z_t), E_hid, w_zrn)
    if mask is None:
        dh_state = dh
    d_in = torch.cat([E[..., 2 * H : 3 * H], E[..., H : 2 * H], E[..., :H]], dim=-1)  # [dr̂, dẑ, dn̂]
    d_hid = torch.cat([E[..., 2 * H : 3 * H], E[..., H : 2 * H], E[..., 3 * H :]], dim=-1).reshape(T * B, G)
    d_w_hh = d_hid.t().mm(h_prev.reshape(T * B, H))  # one GEMM over T·B rows
    d_b_hh = d_hid.sum(0) if has_bias_hh else None
    d_x, d_w_ih, d_b_ih = input_grads(need_d_x, d_in, x, weight_ih, has_bias_ih)
    return d_x, dh_state, d_w_ih, d_w_hh, d_b_ih, d_b_hh


def nrz_to_rzn(a: Tensor) -> Tensor:
    """Blocks of rows (n, r, z) → torch's GRU order (r, z, n) (and the inverse of ``rzn_to_nrz``)."""
    n, r, z = a.chunk(3)
    return torch.cat([r, z, n])


def rzn_to_nrz(a: Tensor) -> Tensor:
    r, z, n = a.chunk(3)
    return torch.cat([n, r, z])


def c_loop_forward(kernels, x_hat, w_t, bias_ih, bias_hh, h0, mask):
    """The GRU forward loop: per step ``W_hh h`` (one GEMM) and one ``gru_fwd`` (``gru_fwd_masked``) call.

    Returns ``gates`` (T, B, 3H) = [r, z, ĥ_n], ``n``, the outputs (T, B, H) and, with a mask, the
    states entering each step (T+1, B, H) (else ``None``: they are h0 and the outputs).
    """
    T, B, G = x_hat.shape
    H = G // 3
    gates = x_hat.new_empty(T, B, G)
    new = x_hat.new_empty(T, B, H)
    out = x_hat.new_empty(T, B, H)
    b_ih = x_hat.new_zeros(G) if bias_ih is None else bias_ih.contiguous()  # both added inside the kernel
    b_hh = x_hat.new_zeros(G) if bias_hh is None else bias_hh.contiguous()
    bi_at, bh_at = b_ih.data_ptr(), b_hh.data_ptr()
    (g_at, g_step), (x_at, _), (n_at, step), (o_at, _) = addresses(gates, x_hat, new, out)
    if kernels.blas is not None and T:  # the whole loop in C (w_t is contiguous: transposed)
        if mask is None:
            states, h0 = None, h0.contiguous()
            kernels.gru_fwd_loop(
                T, B, H, kernels.blas, g_at, bi_at, bh_at, x_at, w_t.data_ptr(), h0.data_ptr(), n_at, o_at
            )
        else:
            states = x_hat.new_empty(T + 1, B, H)
            states[0] = h0
            mask = mask.reshape(T, B).contiguous()
            kernels.gru_fwd_masked_loop(
                T,
                B,
                H,
                kernels.blas,
                g_at,
                bi_at,
                bh_at,
                x_at,
                w_t.data_ptr(),
                states.data_ptr(),
                n_at,
                o_at,
                mask.data_ptr(),
            )
        return gates, new, out, states
    if mask is None:
        states = None
        h = h0.contiguous()
        h_at, outs = h.data_ptr(), out.unbind(0)
        for t, g_t in enumerate(gates.unbind(0)):
            torch.mm(h, w_t, out=g_t)
            kernels.gru_fwd(
                B, H, g_at + t * g_step, bi_at, bh_at, x_at + t * g_step, G, h_at, H, n_at + t * step, o_at + t * step
            )
            h, h_at = outs[t], o_at + t * step
    else:
        states = x_hat.new_empty(T + 1, B, H)
        states[0] = h0
        mask = mask.reshape(T, B).contiguous()
        s_at, m_at, hs = states.data_ptr(), mask.data_ptr(), states.unbind(0)
        for t, g_t in enumerate(gates.unbind(0)):
            torch.mm(hs[t], w_t, out=g_t)
            kernels.gru_fwd_masked(
                B,
                H,
                g_at + t * g_step,
                bi_at,
                bh_at,
                x_at + t * g_step,
                G,
                s_at + t * step,
                s_at + (t + 1) * step,
                n_at + t * step,
                o_at + t * step,
                m_at + t * B,
            )
    return gates, new, out, states


def c_loop_backward(kernels, gates, new, out, h0, weight_hh, d_out, d_hn, states, mask):
    """BPTT through the GRU, per step one ``gru_bwd`` (``gru_bwd_masked``) call and one GEMM.

    Returns ``E`` (T, B, 4H) = [dn̂ ⊙ r, dr̂, dẑ, dn̂] and the gradient of h0.
    """
    T, B, G = gates.shape
    H = G // 3
    E = scratch("gru_backward", gates, T, B, 4 * H)
    w_nrz = rzn_to_nrz(weight_hh)  # rows in E's order
    zeros = gates.new_zeros(B, H)  # the output gradient of steps that have none
    dh = zeros if d_hn is None else d_hn.contiguous()
    if d_out is not None:
        d_out = d_out.contiguous()  # kept alive by this name while its address is in use
    dy_at, dy_step = (zeros.data_ptr(), 0) if d_out is None else addresses(d_out)[0]
    carry = gates.new_empty(B, H)  # what reaches h_{t-1} other than through W_hh
    (g_at, g_step), (n_at, step), (E_at, E_step) = addresses(gates, new, E)
    if kernels.blas is not None and T:  # the whole loop in C
        dh0, dy_step = gates.new_empty(B, H), dy_step // gates.element_size()
        if mask is None:
            dh = (dh if d_out is None else dh + d_out[T - 1]).clone(memory_format=torch.contiguous_format)
            h0 = h0.contiguous()
            kernels.gru_bwd_loop(
                T,
                B,
                H,
                kernels.blas,
                g_at,
                n_at,
                out.data_ptr(),
                h0.data_ptr(),
                w_nrz.data_ptr(),
                dy_at,
                dy_step,
                dh.data_ptr(),
                carry.data_ptr(),
                E_at,
                zeros.data_ptr(),
                dh0.data_ptr(),
            )
        else:
            dh, mask = dh.clone(), mask.reshape(T, B).contiguous()  # dh: overwritten
            kernels.gru_bwd_masked_loop(
                T,
                B,
                H,
                kernels.blas,
                g_at,
                n_at,
                states.data_ptr(),
                w_nrz.data_ptr(),
                dy_at,
                dy_step,
                mask.data_ptr(),
                dh.data_ptr(),
                carry.data_ptr(),
                E_at,
                zeros.data_ptr(),
                dh0.data_ptr(),
            )
        return E, dh0
    E_steps = E[..., : 3 * H].unbind(0)
    if mask is None:
        # the unmasked kernel folds the previous step's output gradient into carry = dh ⊙ z + dy_{t-1}
        if d_out is not None and T:
            dh = (dh + d_out[T - 1]).contiguous()
        h0 = h0.contiguous()
        o_at = out.data_ptr()
        for t in range(T - 1, -1, -1):
            h_prev_at = o_at + (t - 1) * step if t > 0 else h0.data_ptr()
            dy_prev_at = dy_at + (t - 1) * dy_step if t > 0 else zeros.data_ptr()
            kernels.gru_bwd(
                B,
                H,
                g_at + t * g_step,
                n_at + t * step,
                h_prev_at,
                H,
                dh.data_ptr(),
                dy_prev_at,
                E_at + t * E_step,
                carry.data_ptr(),
                zeros.data_ptr(),
            )
            dh = torch.addmm(carry, E_steps[t], w_nrz)
    else:
        mask = mask.reshape(T, B).contiguous()
        s_at, m_at = states.data_ptr(), mask.data_ptr()
        for t in range(T - 1, -1, -1):
            kernels.gru_bwd_masked(
                B,
                H,
                g_at + t * g_step,
                n_at + t * step,
                s_at + t * step,
                dh.data_ptr(),
                dy_at + t * dy_step,
                E_at + t * E_step,
                carry.data_ptr(),
                m_at + t * B,
                zeros.data_ptr(),
            )
            dh = torch.addmm(carry, E_steps[t], w_nrz)
    return E, dh


def c_inference(kernels, x, h0, weight_ih, weight_hh, bias_ih, bias_hh, mask):
    """The GRU forward when nothing needs gradients: ``(out (T,B,H), h_n)``; as
    :func:`seqmodels.kernels.lstm.c_inference`."""
    T, B, _ = x.shape
    G = weight_ih.shape[0]
    H = G // 3
    out = x.new_empty(T, B, H)
    if T == 0:
        return out, h0
    w_t = weight_hh.t().contiguous()
    b_ih = x.new_zeros(G) if bias_ih is None else bias_ih.contiguous()
    b_hh = x.new_zeros(G) if bias_hh is None else bias_hh.contiguous()
    chunk = x.new_empty(chunk_steps(B, G, x.element_size()), B, G)  # W_ih x_t
    rows = chunk.unbind(0)
    hidden = x.new_empty(B, G)  # W_hh h_{t-1}, then [r z ĥ_n]
    new = x.new_empty(B, H)  # n, written, never read
    ((o_at, step),) = addresses(out)
    outs = out.unbind(0)
    if mask is None:
        h = h0.contiguous()
        for t0, n in chunked_projections(x, weight_ih, chunk):
            for k in range(n):
                t = t0 + k
                torch.mm(h, w_t, out=hidden)
                kernels.gru_fwd(
                    B,
                    H,
                    hidden.data_ptr(),
                    b_ih.data_ptr(),
                    b_hh.data_ptr(),
                    rows[k].data_ptr(),
                    G,
                    h.data_ptr(),
                    H,
                    new.data_ptr(),
                    o_at + t * step,
                )
                h = outs[t]
        return out, h
    buffer = x.new_empty(2, B, H)
    buffer[0] = h0
    states = buffer.unbind(0)
    mask = mask.reshape(T, B).contiguous()
    for t0, n in chunked_projections(x, weight_ih, chunk):
        for k in range(n):
            t = t0 + k
            now, nxt = t % 2, (t + 1) % 2
            torch.mm(states[now], w_t, out=hidden)
            kernels.gru_fwd_masked(
                B,
                H,
                hidden.data_ptr(),
                b_ih.data_ptr(),
                b_hh.data_ptr(),
                rows[k].data_ptr(),
                G,
                states[now].data_ptr(),
                states[nxt].data_ptr(),
                new.data_ptr(),
                o_at + t * step,
                mask[t].data_ptr(),
            )
    return out, states[T % 2]


def gru_sequence(
    x: Tensor,
    h0: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor | None,
    bias_hh: Tensor | None,
    mask: Tensor | None = None,
):
    """Fast torch-form GRU over x (T, B, I): ``(out (T,B,H), h_n)``; under ``torch.autocast`` outside it, in
    ``weight_hh``'s dtype (:mod:`seqmodels.utils.precision`)."""
    if autocast_enabled(x.device.type):
        return outside_autocast(gru_sequence, weight_hh.dtype, x, h0, weight_ih, weight_hh, bias_ih, bias_hh, mask)
    kernels = None if needs_grad(x, h0, weight_ih, weight_hh, bias_ih, bias_hh) else loader.kernels(x, h0, weight_hh)
    if kernels is not None:
        return c_inference(kernels, x, h0, weight_ih, weight_hh, bias_ih, bias_hh, mask)
    return GRURecurrence.apply(x, h0, weight_ih, weight_hh, bias_ih, bias_hh, mask)
