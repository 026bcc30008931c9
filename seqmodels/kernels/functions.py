"""Sequence-level autograd Functions: the hand-written BPTT as the fast ``custom`` backend.

Each recurrence is split where autograd is already optimal and where it is not:

* the input path ``X̂ = X W_ihᵀ + b`` for all T steps is one GEMM, written straight into the
  buffer that then receives each step's ``W_hh h_{t-1}`` in place (``addmm_``);
* the recurrence runs inside a :class:`torch.autograd.Function` whose forward writes each step
  into preallocated (T, B, ·) buffers (no autograd graph, no per-step tensors kept) and whose
  backward is the step-by-step BPTT of :mod:`seqmodels.functional` (same equations; see the
  docstrings of :func:`~seqmodels.functional.lstm_forward`, ``gru_forward``, ``rnn_forward``),
  collecting the per-step gate gradients ``D`` (T, B, G·H) so that ``dW_ih = Dᵀ X``,
  ``dW_hh = Dᵀ H_prev`` and ``dX = D W_ih`` are one GEMM each over all T·B rows.

Only ``W_hhᵀ d_gates_t`` and the elementwise gate math run inside the time loop, each step as a
handful of ops writing into views made once per sequence (``unbind``), never per step. Every
factor of the backward that does not depend on the incoming gradient (the gates' derivatives,
``o ⊙ (1 - tanh² c)``, …) is computed for all steps at once before the loop, so a step of BPTT
is one GEMM and three to five elementwise ops. With ``lengths`` the semantics are those of
:class:`seqmodels.layers.Recurrent`: a padded step keeps the state and outputs zero.

Each loop comes in two forms: on CPU, with the fused C gate kernels (:mod:`.loops`), one GEMM and one
kernel call per step (the whole loop in C when torch's BLAS is reachable); otherwise the ATen-op loops below
(``_*_aten_forward`` / ``_*_aten_backward``), which on a GPU are captured once per input signature and replayed
as a CUDA graph (:mod:`.cuda_graphs`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from . import cuda_graphs, loader, loops


def _sum_bias(a: Tensor | None, b: Tensor | None) -> Tensor | None:
    if a is None:
        return b
    return a if b is None else a + b


def _input_projection(x: Tensor, weight_ih: Tensor, bias: Tensor | None, out: Tensor | None = None) -> Tensor:
    """``X W_ihᵀ + b`` for all steps, one GEMM into ``out`` (T, B, G·H) or a fresh buffer."""
    T, B, I = x.shape
    x2 = x.reshape(T * B, I)
    flat = None if out is None else out.view(T * B, -1)
    if bias is None:
        flat = torch.mm(x2, weight_ih.t(), out=flat)
    else:
        flat = torch.addmm(bias, x2, weight_ih.t(), out=flat)
    return flat.view(T, B, -1)


def _transposed(weight_hh: Tensor) -> Tensor:
    """``W_hhᵀ`` (H, G·H), contiguous: the per-step GEMM ``h W_hhᵀ`` runs 10-30 % faster than on the view."""
    return weight_hh.t().contiguous()


def _input_grads(need_d_x: bool, d_x_hat: Tensor, x: Tensor, weight_ih: Tensor, has_bias: bool):
    """Gradients of ``X̂ = X W_ihᵀ + b`` given ``dX̂`` (T, B, G·H): one GEMM each over the T·B rows."""
    T, B, I = x.shape
    D2 = d_x_hat.reshape(T * B, -1)
    d_x = D2.mm(weight_ih).view(T, B, I) if need_d_x else None
    d_w_ih = D2.t().mm(x.reshape(T * B, I))
    return d_x, d_w_ih, (D2.sum(0) if has_bias else None)


def needs_grad(*tensors: Tensor | None) -> bool:
    """Whether autograd would record a call on these tensors (else the inference loops run, keeping nothing)."""
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


def _steps(*tensors: Tensor) -> list[tuple[Tensor, ...]]:
    """Per-step views of (T, ...) tensors, made in one ``unbind`` each: ``[(a_t, b_t, ...), ...]``."""
    return list(zip(*(t.unbind(0) for t in tensors)))


# ---------------------------------------------------------------------------------------- LSTM
class LSTMRecurrence(torch.autograd.Function):
    """``(x (T,B,I), h0, c0, W_ih (4H,I), W_hh (4H,H), b (4H,)|None, mask|None) -> (out (T,B,H), h_n, c_n)``.

    ``b = b_ih + b_hh``; ``mask`` (T, B, 1) boolean, True at real steps.

    Backward, with everything that does not depend on the incoming gradient precomputed::

        P = o ⊙ (1 - tanh² c_t)     R = tanh c_t ⊙ o(1-o)
        Q = [g ⊙ i(1-i), c_{t-1} ⊙ f(1-f), i ⊙ (1-g²)]                         (T, B, 3, H)
        per step:  dc_t = dc_next + dh_t ⊙ P_t
                   [dĩ, df̃, dg̃] = dc_t ⊙ Q_t      dõ = dh_t ⊙ R_t
                   dc_next ← dc_t ⊙ f_t           dh_{t-1} = dy_{t-1} + d_gates_t W_hh
    """

    @staticmethod
    def forward(ctx, x: Tensor, h0: Tensor, c0: Tensor, weight_ih: Tensor, weight_hh: Tensor,
                bias: Tensor | None, mask: Tensor | None):
        kernels = ctx.native = loader.kernels(x, h0, c0, weight_hh)
        ctx.has_bias = bias is not None
        if kernels is None:  # ATen ops per step; on a GPU replayed from a CUDA graph
            out, h, c, gates, cells, tanh_c, h_prev, c_prev = cuda_graphs.run(
                _lstm_aten_forward, (x, h0, c0, weight_ih, weight_hh, bias, mask))
            ctx.save_for_backward(x, gates, cells, tanh_c, out, h0, c0, weight_ih, weight_hh, h_prev, c_prev, mask)
            return out, h, c
        # (T, B, 4H): X̂, then activated [i, f, g, o]; the C kernels add the bias themselves, which saves
        # writing it into all T·B rows first
        gates = _input_projection(x, weight_ih, None)
        T, B, G = gates.shape
        H = G // 4
        w_t = _transposed(weight_hh)
        tanh_c = gates.new_empty(T, B, H)
        out = gates.new_empty(T, B, H)
        bias = gates.new_zeros(G) if bias is None else bias.contiguous()
        if mask is None:
            cells = gates.new_empty(T, B, H)  # c_t
            h, c = loops.lstm_forward(kernels, gates, bias, w_t, h0, c0, cells, tanh_c, out)
            ctx.save_for_backward(x, gates, cells, tanh_c, out, h0, c0, weight_ih, weight_hh, None, None, None)
            return out, h, c
        # states entering each step (T+1, B, H): the last is the final state
        states_h, states_c = loops.lstm_forward_masked(kernels, gates, bias, w_t, h0, c0, tanh_c, out, mask)
        ctx.save_for_backward(x, gates, None, tanh_c, out, h0, c0, weight_ih, weight_hh, states_h, states_c, mask)
        return out, states_h[T], states_c[T]

    @staticmethod
    @torch.autograd.function.once_differentiable  # the BPTT writes into buffers: no graph of its own
    def backward(ctx, d_out: Tensor | None, d_hn: Tensor | None, d_cn: Tensor | None):
        x, gates, cells, tanh_c, out, h0, c0, weight_ih, weight_hh, h_prev, c_prev, mask = ctx.saved_tensors
        need_d_x = ctx.needs_input_grad[0]
        if ctx.native is None:
            return (*cuda_graphs.run(_lstm_aten_backward,
                                     (x, gates, cells, tanh_c, out, h0, c0, weight_ih, weight_hh, h_prev, c_prev,
                                      mask, d_out, d_hn, d_cn), (need_d_x, ctx.has_bias)), None)
        T, B, G = gates.shape
        H = G // 4
        if mask is None:
            D, dh_state, dc_state = loops.lstm_backward(ctx.native, gates, cells, tanh_c, c0, weight_hh,
                                                               d_out, d_hn, d_cn)
            d_x, d_w_ih, d_b = _input_grads(need_d_x, D, x, weight_ih, ctx.has_bias)
            return d_x, dh_state, dc_state, d_w_ih, loops.hidden_weight_grad(D, out, h0), d_b, None
        # h_prev, c_prev: the (T+1, B, H) state buffers of the masked forward
        D, dh_state, dc_state = loops.lstm_backward_masked(
            ctx.native, gates, c_prev, tanh_c, mask, weight_hh, d_out, d_hn, d_cn)
        d_x, d_w_ih, d_b = _input_grads(need_d_x, D, x, weight_ih, ctx.has_bias)
        d_w_hh = D.reshape(T * B, G).t().mm(h_prev[:T].reshape(T * B, H))
        return d_x, dh_state, dc_state, d_w_ih, d_w_hh, d_b, None


def _lstm_aten_forward(x: Tensor, h0: Tensor, c0: Tensor, weight_ih: Tensor, weight_hh: Tensor,
                       bias: Tensor | None, mask: Tensor | None):
    """LSTM forward, ATen ops per step: ``(out, h_n, c_n, gates, cells, tanh_c, h_prev, c_prev)``.

    ``gates`` (T, B, 4H) the activated [i, f, g, o], ``cells`` c_t before masking, ``tanh_c``;
    ``h_prev``/``c_prev`` (T, B, H) the states entering each step with a mask, else None.
    """
    gates = _input_projection(x, weight_ih, bias)  # X̂, then activated in place
    T, B, G = gates.shape
    H = G // 4
    w_t = _transposed(weight_hh)
    tanh_c = gates.new_empty(T, B, H)
    out = gates.new_empty(T, B, H)
    cells = gates.new_empty(T, B, H)
    masked = mask is not None
    h_prev = gates.new_empty(T, B, H) if masked else None
    c_prev = gates.new_empty(T, B, H) if masked else None
    views = _steps(gates, gates[..., : 2 * H], gates[..., : H], gates[..., H : 2 * H],
                   gates[..., 2 * H : 3 * H], gates[..., 3 * H :], cells, tanh_c, out)
    h, c = h0, c0
    for t, (g_t, if_t, i, f, g, o, c_t, tc_t, o_t) in enumerate(views):
        g_t.addmm_(h, w_t)  # X̂_t + W_hh h_{t-1}
        if_t.sigmoid_()
        g.tanh_()
        o.sigmoid_()
        torch.mul(f, c, out=c_t).addcmul_(i, g)  # c_t = f ⊙ c + i ⊙ g
        torch.tanh(c_t, out=tc_t)
        torch.mul(o, tc_t, out=o_t)  # h_t = o ⊙ tanh c_t
        if not masked:
            h, c = o_t, c_t
        else:
            m = mask[t]
            h_prev[t].copy_(h)
            c_prev[t].copy_(c)
            h, c = torch.where(m, o_t, h), torch.where(m, c_t, c)
            o_t.masked_fill_(~m, 0.0)
    return out, h, c, gates, cells, tanh_c, h_prev, c_prev


def _lstm_aten_backward(x: Tensor, gates: Tensor, cells: Tensor, tanh_c: Tensor, out: Tensor, h0: Tensor,
                        c0: Tensor, weight_ih: Tensor, weight_hh: Tensor, h_prev: Tensor | None,
                        c_prev: Tensor | None, mask: Tensor | None, d_out: Tensor | None, d_hn: Tensor | None,
                        d_cn: Tensor | None, need_d_x: bool, has_bias: bool):
    """LSTM BPTT, ATen ops per step, on :func:`_lstm_aten_forward`'s results: ``(dx, dh0, dc0, dW_ih, dW_hh, db)``."""
    T, B, G = gates.shape
    H = G // 4
    d_out = out.new_zeros(T, B, H) if d_out is None else d_out
    dh_state = h0.new_zeros(B, H) if d_hn is None else d_hn
    dc_state = c0.new_zeros(B, H) if d_cn is None else d_cn.clone()
    if mask is None:
        h_prev = torch.cat([h0[None], out[:-1]])  # (T, B, H): h_{t-1} of each step
        c_prev = torch.cat([c0[None], cells[:-1]])
    i, f, g, o = gates.split(H, dim=-1)
    P = o * (1 - tanh_c * tanh_c)
    R = tanh_c * o * (1 - o)
    Q = torch.stack([g * i * (1 - i), c_prev * f * (1 - f), i * (1 - g * g)], dim=2)  # (T, B, 3, H)
    D = gates.new_empty(T, B, G)  # gradients of the gate pre-activations
    views = _steps(D, D[..., : 3 * H].unflatten(-1, (3, H)), D[..., 3 * H :], P, R, Q, f, d_out)
    if mask is None:
        dh = dh_state + d_out[T - 1] if T else dh_state  # vertical + horizontal
        dc = dc_state
        for t in range(T - 1, -1, -1):
            D_t, D3_t, Do_t, P_t, R_t, Q_t, f_t, _ = views[t]
            dc.addcmul_(dh, P_t)
            torch.mul(dh, R_t, out=Do_t)
            torch.mul(Q_t, dc.unsqueeze(1), out=D3_t)
            dc = dc * f_t
            dh = torch.addmm(d_out[t - 1], D_t, weight_hh) if t > 0 else D_t.mm(weight_hh)
        dh_state, dc_state = dh, dc
    else:
        for t in range(T - 1, -1, -1):
            D_t, D3_t, Do_t, P_t, R_t, Q_t, f_t, dy_t = views[t]
            m = mask[t]
            dh = (dh_state + dy_t).masked_fill_(~m, 0.0)  # a padded step did not run
            dc = dc_state.masked_fill(~m, 0.0).addcmul_(dh, P_t)
            torch.mul(dh, R_t, out=Do_t)
            torch.mul(Q_t, dc.unsqueeze(1), out=D3_t)
            # padded rows: the state passed straight through, so does its gradient
            dh_state = torch.addmm(dh_state.masked_fill(m, 0.0), D_t, weight_hh)
            dc_state = torch.addcmul(dc_state.masked_fill(m, 0.0), dc, f_t)
    d_x, d_w_ih, d_b = _input_grads(need_d_x, D, x, weight_ih, has_bias)
    d_w_hh = D.reshape(T * B, G).t().mm(h_prev.reshape(T * B, H))  # one GEMM over T·B rows
    return d_x, dh_state, dc_state, d_w_ih, d_w_hh, d_b


def lstm_sequence(x: Tensor, h0: Tensor, c0: Tensor, weight_ih: Tensor, weight_hh: Tensor,
                  bias_ih: Tensor | None, bias_hh: Tensor | None, mask: Tensor | None = None):
    """Fast LSTM over x (T, B, I): ``(out (T,B,H), (h_n, c_n))``, torch's weights and gate order.

    ``mask``: (T, B, 1) boolean, True at real steps (:func:`~seqmodels.utils.checks.step_mask`).
    """
    bias = _sum_bias(bias_ih, bias_hh)
    kernels = None if needs_grad(x, h0, c0, weight_ih, weight_hh, bias) else loader.kernels(x, h0, c0, weight_hh)
    if kernels is not None:
        out, h, c = loops.lstm_inference(kernels, x, h0, c0, weight_ih, weight_hh, bias, mask)
    else:
        out, h, c = LSTMRecurrence.apply(x, h0, c0, weight_ih, weight_hh, bias, mask)
    return out, (h, c)


# ----------------------------------------------------------------------------------------- GRU
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
    def forward(ctx, x: Tensor, h0: Tensor, weight_ih: Tensor, weight_hh: Tensor, bias_ih: Tensor | None,
                bias_hh: Tensor | None, mask: Tensor | None):
        kernels = ctx.native = loader.kernels(x, h0, weight_hh)
        ctx.has_bias_ih, ctx.has_bias_hh = bias_ih is not None, bias_hh is not None
        if kernels is None:  # ATen ops per step; on a GPU replayed from a CUDA graph
            out, h, gates, new, h_prev = cuda_graphs.run(
                _gru_aten_forward, (x, h0, weight_ih, weight_hh, bias_ih, bias_hh, mask))
            ctx.save_for_backward(x, gates, new, out, h0, weight_ih, weight_hh, h_prev, mask)
            return out, h
        # X̂ (T, B, 3H), one GEMM into a buffer reused across calls (read only by the loop below); the C kernels
        # add b_ih themselves
        T, B, _ = x.shape
        x_hat = _input_projection(x, weight_ih, None,
                                  out=loops.scratch("gru_input_projection", x, T, B, weight_ih.shape[0]))
        w_t = _transposed(weight_hh)
        gates, new, out, states = loops.gru_forward(kernels, x_hat, w_t, bias_ih, bias_hh, h0, mask)
        ctx.save_for_backward(x, gates, new, out, h0, weight_ih, weight_hh, states, mask)
        if mask is not None:
            return out, states[T]
        return out, (out[T - 1] if T else h0)

    @staticmethod
    @torch.autograd.function.once_differentiable  # the BPTT writes into buffers: no graph of its own
    def backward(ctx, d_out: Tensor | None, d_hn: Tensor | None):
        x, gates, new, out, h0, weight_ih, weight_hh, h_prev, mask = ctx.saved_tensors
        need_d_x = ctx.needs_input_grad[0]
        if ctx.native is None:
            return (*cuda_graphs.run(_gru_aten_backward,
                                     (x, gates, new, out, h0, weight_ih, weight_hh, h_prev, mask, d_out, d_hn),
                                     (need_d_x, ctx.has_bias_ih, ctx.has_bias_hh)), None)
        T, B, G = gates.shape
        H = G // 3
        # h_prev: the (T+1, B, H) state buffer of a masked forward
        E, dh_state = loops.gru_backward(ctx.native, gates, new, out, h0, weight_hh, d_out, d_hn, h_prev, mask)
        # E = [dn̂ ⊙ r, dr̂, dẑ, dn̂]: columns H: are dX̂ (r, z, n); columns :3H are d(W_hh h + b_hh) in
        # the row order (n, r, z), put back into torch's (r, z, n) below
        d_x, d_w_ih, d_b_ih = _input_grads(need_d_x, E[..., H:], x, weight_ih, ctx.has_bias_ih)
        if mask is None:
            d_w_hh = loops.nrz_to_rzn(loops.hidden_weight_grad(E[..., : 3 * H], out, h0))
        else:
            d_hid = E[..., : 3 * H].reshape(T * B, G)
            d_w_hh = loops.nrz_to_rzn(d_hid.t().mm(h_prev[:T].reshape(T * B, H)))
        d_b_hh = loops.nrz_to_rzn(E[..., : 3 * H].sum((0, 1))) if ctx.has_bias_hh else None
        return d_x, dh_state, d_w_ih, d_w_hh, d_b_ih, d_b_hh, None


def _gru_aten_forward(x: Tensor, h0: Tensor, weight_ih: Tensor, weight_hh: Tensor, bias_ih: Tensor | None,
                      bias_hh: Tensor | None, mask: Tensor | None):
    """GRU forward, ATen ops per step: ``(out, h_n, gates, new, h_prev)``.

    ``gates`` (T, B, 3H) the [r, z, ĥ_n] of each step, ``new`` the n, ``h_prev`` (T, B, H) the states
    entering each step with a mask, else None.
    """
    x_hat = _input_projection(x, weight_ih, bias_ih)  # (T, B, 3H), one GEMM
    T, B, G = x_hat.shape
    H = G // 3
    w_t = _transposed(weight_hh)
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
    views = _steps(x_hat[..., 2 * H :], gates, gates[..., : 2 * H], gates[..., :H], gates[..., H : 2 * H],
                   gates[..., 2 * H :], new, out)
    h = h0
    for t, (xn, g_t, rz, r, z, hn, n, o_t) in enumerate(views):
        g_t.addmm_(h, w_t)
        rz.sigmoid_()
        torch.addcmul(xn, r, hn, out=n).tanh_()  # n = tanh(x̂_n + r ⊙ ĥ_n)
        torch.lerp(n, h, z, out=o_t)  # h' = n + z ⊙ (h - n)
        if not masked:
            h = o_t
        else:
            m = mask[t]
            h_prev[t].copy_(h)
            h = torch.where(m, o_t, h)
            o_t.masked_fill_(~m, 0.0)
    return out, h, gates, new, h_prev


def _gru_aten_backward(x: Tensor, gates: Tensor, new: Tensor, out: Tensor, h0: Tensor, weight_ih: Tensor,
                       weight_hh: Tensor, h_prev: Tensor | None, mask: Tensor | None, d_out: Tensor | None,
                       d_hn: Tensor | None, need_d_x: bool, has_bias_ih: bool, has_bias_hh: bool):
    """GRU BPTT, ATen ops per step, on :func:`_gru_aten_forward`'s results: ``(dx, dh0, dW_ih, dW_hh, db_ih, db_hh)``."""
    T, B, G = gates.shape
    H = G // 3
    d_out = out.new_zeros(T, B, H) if d_out is None else d_out
    dh_state = h0.new_zeros(B, H) if d_hn is None else d_hn
    if mask is None:
        h_prev = torch.cat([h0[None], out[:-1]])  # (T, B, H)
    r, z, hn = gates.split(H, dim=-1)
    A_nz = torch.stack([(1 - z) * (1 - new * new), (h_prev - new) * z * (1 - z)], dim=2)  # (T, B, 2, H)
    A_r = hn * r * (1 - r)
    E = gates.new_empty(T, B, 4 * H)  # [dn̂, dẑ, dr̂, dn̂ ⊙ r]
    w_zrn = torch.cat([weight_hh[H : 2 * H], weight_hh[:H], weight_hh[2 * H :]])  # rows (z, r, n)
    views = _steps(E[..., : 2 * H].unflatten(-1, (2, H)), E[..., :H], E[..., 2 * H : 3 * H], E[..., 3 * H :],
                   E[..., H:], A_nz, A_r, r, z, d_out)
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
    d_x, d_w_ih, d_b_ih = _input_grads(need_d_x, d_in, x, weight_ih, has_bias_ih)
    return d_x, dh_state, d_w_ih, d_w_hh, d_b_ih, d_b_hh


def gru_sequence(x: Tensor, h0: Tensor, weight_ih: Tensor, weight_hh: Tensor,
                 bias_ih: Tensor | None, bias_hh: Tensor | None, mask: Tensor | None = None):
    """Fast torch-form GRU over x (T, B, I): ``(out (T,B,H), h_n)``."""
    kernels = None if needs_grad(x, h0, weight_ih, weight_hh, bias_ih, bias_hh) else loader.kernels(x, h0, weight_hh)
    if kernels is not None:
        return loops.gru_inference(kernels, x, h0, weight_ih, weight_hh, bias_ih, bias_hh, mask)
    return GRURecurrence.apply(x, h0, weight_ih, weight_hh, bias_ih, bias_hh, mask)


# ----------------------------------------------------------------------------------------- RNN
class RNNRecurrence(torch.autograd.Function):
    """``(x (T,B,I), h0, W_ih (H,I), W_hh (H,H), b = b_ih + b_hh | None, relu: bool, mask|None) -> (out, h_n)``.

    Backward: ``dz_t = dh_t ⊙ φ'(a_t)`` with ``φ' = 1 - a²`` (tanh) or ``[a > 0]`` (relu) made for all
    steps at once, and ``dh_{t-1} = dy_{t-1} + dz_t W_hh``.
    """

    @staticmethod
    def forward(ctx, x: Tensor, h0: Tensor, weight_ih: Tensor, weight_hh: Tensor, bias: Tensor | None, relu: bool,
                mask: Tensor | None):
        ctx.relu, ctx.has_bias = relu, bias is not None
        kernels = loader.kernels(x, h0, weight_hh)
        # on CPU without a mask, with torch's BLAS reachable: the whole loop in C
        ctx.native = kernels if kernels is not None and kernels.blas is not None and mask is None else None
        if ctx.native is not None:
            act = _input_projection(x, weight_ih, bias)  # X̂ + b, then a_t in place
            loops.rnn_forward(ctx.native, act, _transposed(weight_hh), h0, relu)
            ctx.save_for_backward(x, act, h0, weight_ih, weight_hh, None, None)
            return act, (act[-1] if len(act) else h0)
        out, h, act, h_prev = cuda_graphs.run(_rnn_aten_forward, (x, h0, weight_ih, weight_hh, bias, mask), (relu,))
        out = act if out is None else out
        ctx.save_for_backward(x, act, h0, weight_ih, weight_hh, h_prev, mask)
        return out, h

    @staticmethod
    @torch.autograd.function.once_differentiable  # the BPTT writes into buffers: no graph of its own
    def backward(ctx, d_out: Tensor | None, d_hn: Tensor | None):
        x, act, h0, weight_ih, weight_hh, h_prev, mask = ctx.saved_tensors
        if ctx.native is not None and len(act):
            D, dh0 = loops.rnn_backward(ctx.native, act, weight_hh, d_out, d_hn, ctx.relu)
            d_x, d_w_ih, d_b = _input_grads(ctx.needs_input_grad[0], D, x, weight_ih, ctx.has_bias)
            return d_x, dh0, d_w_ih, loops.hidden_weight_grad(D, act, h0), d_b, None, None
        grads = cuda_graphs.run(_rnn_aten_backward, (x, act, h0, weight_ih, weight_hh, h_prev, mask, d_out, d_hn),
                                (ctx.relu, ctx.needs_input_grad[0], ctx.has_bias))
        return (*grads, None, None)


def _rnn_aten_forward(x: Tensor, h0: Tensor, weight_ih: Tensor, weight_hh: Tensor, bias: Tensor | None,
                      mask: Tensor | None, relu: bool):
    """RNN forward, ATen ops per step: ``(out, h_n, act, h_prev)``.

    ``act`` (T, B, H) the activations φ(z_t) before masking; ``out`` the masked outputs, None without a mask
    (they are ``act``: one tensor, not a second copy out of a CUDA graph); ``h_prev`` the states entering each
    step with a mask, else None.
    """
    act = _input_projection(x, weight_ih, bias)  # X̂, then a_t = φ(z_t) in place
    T, B, H = act.shape
    w_t = _transposed(weight_hh)
    out = act if mask is None else act.new_empty(T, B, H)
    h_prev = act.new_empty(T, B, H) if mask is not None else None
    h = h0
    for t, (a_t,) in enumerate(_steps(act)):
        a_t.addmm_(h, w_t)
        a_t.relu_() if relu else a_t.tanh_()
        if mask is None:
            h = a_t
        else:
            m = mask[t]
            h_prev[t].copy_(h)
            h = torch.where(m, a_t, h)
            torch.mul(a_t, m, out=out[t])
    return (None if mask is None else out), h, act, h_prev


def _rnn_aten_backward(x: Tensor, act: Tensor, h0: Tensor, weight_ih: Tensor, weight_hh: Tensor,
                       h_prev: Tensor | None, mask: Tensor | None, d_out: Tensor | None, d_hn: Tensor | None,
                       relu: bool, need_d_x: bool, has_bias: bool):
    """RNN BPTT on :func:`_rnn_aten_forward`'s results: ``(dx, dh0, dW_ih, dW_hh, db)``."""
    T, B, H = act.shape
    d_out = act.new_zeros(T, B, H) if d_out is None else d_out
    dh_state = h0.new_zeros(B, H) if d_hn is None else d_hn
    if mask is None:
        h_prev = torch.cat([h0[None], act[:-1]])
    deriv = (act > 0).to(act.dtype) if relu else 1 - act * act
    D = act.new_empty(T, B, H)  # dz_t, the pre-activation gradients
    views = _steps(D, deriv, d_out)
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
    d_x, d_w_ih, d_b = _input_grads(need_d_x, D, x, weight_ih, has_bias)
    return d_x, dh_state, d_w_ih, d_w_hh, d_b


def rnn_sequence(x: Tensor, h0: Tensor, weight_ih: Tensor, weight_hh: Tensor,
                 bias_ih: Tensor | None, bias_hh: Tensor | None, mask: Tensor | None = None,
                 nonlinearity: str = "tanh"):
    """Fast vanilla RNN over x (T, B, I): ``(out (T,B,H), h_n)``."""
    bias = _sum_bias(bias_ih, bias_hh)
    return RNNRecurrence.apply(x, h0, weight_ih, weight_hh, bias, nonlinearity == "relu", mask)
