"""The LSTM of the fast ``custom`` backend: its autograd Function, ATen-op loops and C-loop drivers.

The equations are those of :func:`seqmodels.functional.lstm_forward` / ``lstm_backward`` (torch's weights and
gate order); :class:`LSTMRecurrence`'s docstring has the backward as it is computed here. ``lstm_sequence``
runs one of these loops:

* when autograd records the call, :class:`LSTMRecurrence`, whose forward and backward run either
  :func:`c_loop_forward` / :func:`c_loop_backward` (:func:`c_loop_forward_masked` /
  :func:`c_loop_backward_masked` for unequal lengths) on CPU with the C kernels (:mod:`.loader`) — each step
  one GEMM and one fused kernel call, the whole loop in C when torch's BLAS was found (``kernels.blas``),
  else driven from Python — or :func:`aten_forward` / :func:`aten_backward`, ATen ops per step, which on a
  GPU :mod:`.cuda_graphs` captures once per input signature and replays;
* when nothing needs gradients, on CPU with the C kernels, :func:`c_inference`: the same step kernels, driven
  from Python, keeping nothing for a backward.

Layouts: the gates (T, B, 4H) hold X̂ = X W_ihᵀ (+ b), then the activated [i f g o]; the backward's ``D``
(T, B, 4H) the gradients of the gate pre-activations, so that ``dW_ih = Dᵀ X``, ``dW_hh = Dᵀ H_prev`` and
``dX = D W_ih`` are one GEMM each (:mod:`.common`). With a mask (T, B, 1) (sequences shorter than T; the
semantics of :class:`seqmodels.layers.Recurrent`: a padded step keeps the state and outputs zero) the C
loops keep the states entering each step in (T+1, B, H) buffers, the last row being the final state.
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
    sum_bias,
    transposed,
)


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
    def forward(
        ctx,
        x: Tensor,
        h0: Tensor,
        c0: Tensor,
        weight_ih: Tensor,
        weight_hh: Tensor,
        bias: Tensor | None,
        mask: Tensor | None,
    ):
        kernels = ctx.native = loader.kernels(x, h0, c0, weight_hh)
        ctx.has_bias = bias is not None
        if kernels is None:  # ATen ops per step; on a GPU replayed from a CUDA graph
            out, h, c, gates, cells, tanh_c, h_prev, c_prev = cuda_graphs.run(
                aten_forward, (x, h0, c0, weight_ih, weight_hh, bias, mask)
            )
            ctx.save_for_backward(x, gates, cells, tanh_c, out, h0, c0, weight_ih, weight_hh, h_prev, c_prev, mask)
            return out, h, c
        # (T, B, 4H): X̂, then activated [i, f, g, o]; the C kernels add the bias themselves, which saves
        # writing it into all T·B rows first
        gates = input_projection(x, weight_ih, None)
        T, B, G = gates.shape
        H = G // 4
        w_t = transposed(weight_hh)
        tanh_c = gates.new_empty(T, B, H)
        out = gates.new_empty(T, B, H)
        bias = gates.new_zeros(G) if bias is None else bias.contiguous()
        if mask is None:
            cells = gates.new_empty(T, B, H)  # c_t
            h, c = c_loop_forward(kernels, gates, bias, w_t, h0, c0, cells, tanh_c, out)
            ctx.save_for_backward(x, gates, cells, tanh_c, out, h0, c0, weight_ih, weight_hh, None, None, None)
            return out, h, c
        # states entering each step (T+1, B, H): the last is the final state
        states_h, states_c = c_loop_forward_masked(kernels, gates, bias, w_t, h0, c0, tanh_c, out, mask)
        ctx.save_for_backward(x, gates, None, tanh_c, out, h0, c0, weight_ih, weight_hh, states_h, states_c, mask)
        return out, states_h[T], states_c[T]

    @staticmethod
    @torch.autograd.function.once_differentiable  # the BPTT writes into buffers: no graph of its own
    @backward_outside_autocast
    def backward(ctx, d_out: Tensor | None, d_hn: Tensor | None, d_cn: Tensor | None):
        x, gates, cells, tanh_c, out, h0, c0, weight_ih, weight_hh, h_prev, c_prev, mask = ctx.saved_tensors
        need_d_x = ctx.needs_input_grad[0]
        if ctx.native is None:
            return (
                *cuda_graphs.run(
                    aten_backward,
                    (
                        x,
                        gates,
                        cells,
                        tanh_c,
                        out,
                        h0,
                        c0,
                        weight_ih,
                        weight_hh,
                        h_prev,
                        c_prev,
                        mask,
                        d_out,
                        d_hn,
                        d_cn,
                    ),
                    (need_d_x, ctx.has_bias),
                ),
                None,
            )
        T, B, G = gates.shape
        H = G // 4
        if mask is None:
            D, dh_state, dc_state = c_loop_backward(ctx.native, gates, cells, tanh_c, c0, weight_hh, d_out, d_hn, d_cn)
            d_x, d_w_ih, d_b = input_grads(need_d_x, D, x, weight_ih, ctx.has_bias)
            return d_x, dh_state, dc_state, d_w_ih, hidden_weight_grad(D, out, h0), d_b, None
        # h_prev, c_prev: the (T+1, B, H) state buffers of the masked forward
        D, dh_state, dc_state = c_loop_backward_masked(
            ctx.native, gates, c_prev, tanh_c, mask, weight_hh, d_out, d_hn, d_cn
        )
        d_x, d_w_ih, d_b = input_grads(need_d_x, D, x, weight_ih, ctx.has_bias)
        d_w_hh = D.reshape(T * B, G).t().mm(h_prev[:T].reshape(T * B, H))
        return d_x, dh_state, dc_state, d_w_ih, d_w_hh, d_b, None


def aten_forward(
    x: Tensor, h0: Tensor, c0: Tensor, weight_ih: Tensor, weight_hh: Tensor, bias: Tensor | None, mask: Tensor | None
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor | None, Tensor | None]:
    """LSTM forward, ATen ops per step: ``(out, h_n, c_n, gates, cells, tanh_c, h_prev, c_prev)``.

    ``gates`` (T, B, 4H) the activated [i, f, g, o], ``cells`` c_t before masking, ``tanh_c``;
    ``h_prev``/``c_prev`` (T, B, H) the states entering each step with a mask, else None.
    """
    gates = input_projection(x, weight_ih, bias)  # X̂, then activated in place
    T, B, G = gates.shape
    H = G // 4
    w_t = transposed(weight_hh)
    tanh_c = gates.new_empty(T, B, H)
    out = gates.new_empty(T, B, H)
    cells = gates.new_empty(T, B, H)
    masked = mask is not None
    h_prev = gates.new_empty(T, B, H) if masked else None
    c_prev = gates.new_empty(T, B, H) if masked else None
    views = step_views(
        gates,
        gates[..., : 2 * H],
        gates[..., :H],
        gates[..., H : 2 * H],
        gates[..., 2 * H : 3 * H],
        gates[..., 3 * H :],
        cells,
        tanh_c,
        out,
    )
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
            assert mask is not None and h_prev is not None and c_prev is not None  # masked
            m = mask[t]
            h_prev[t].copy_(h)
            c_prev[t].copy_(c)
            h, c = torch.where(m, o_t, h), torch.where(m, c_t, c)
            o_t.masked_fill_(~m, 0.0)
    return out, h, c, gates, cells, tanh_c, h_prev, c_prev


def aten_backward(
    x: Tensor,
    gates: Tensor,
    cells: Tensor,
    tanh_c: Tensor,
    out: Tensor,
    h0: Tensor,
    c0: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    h_prev: Tensor | None,
    c_prev: Tensor | None,
    mask: Tensor | None,
    d_out: Tensor | None,
    d_hn: Tensor | None,
    d_cn: Tensor | None,
    need_d_x: bool,
    has_bias: bool,
):
    """LSTM BPTT, ATen ops per step, on :func:`aten_forward`'s results: ``(dx, dh0, dc0, dW_ih, dW_hh, db)``."""
    T, B, G = gates.shape
    H = G // 4
    d_out = out.new_zeros(T, B, H) if d_out is None else d_out
    dh_state = h0.new_zeros(B, H) if d_hn is None else d_hn
    dc_state = c0.new_zeros(B, H) if d_cn is None else d_cn.clone()
    if mask is None:
        h_prev = torch.cat([h0[None], out[:-1]])  # (T, B, H): h_{t-1} of each step
        c_prev = torch.cat([c0[None], cells[:-1]])
    assert h_prev is not None and c_prev is not None  # saved by the forward with a mask, else rebuilt here
    i, f, g, o = gates.split(H, dim=-1)
    P = o * (1 - tanh_c * tanh_c)
    R = tanh_c * o * (1 - o)
    Q = torch.stack([g * i * (1 - i), c_prev * f * (1 - f), i * (1 - g * g)], dim=2)  # (T, B, 3, H)
    D = gates.new_empty(T, B, G)  # gradients of the gate pre-activations
    views = step_views(D, D[..., : 3 * H].unflatten(-1, (3, H)), D[..., 3 * H :], P, R, Q, f, d_out)
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
    d_x, d_w_ih, d_b = input_grads(need_d_x, D, x, weight_ih, has_bias)
    d_w_hh = D.reshape(T * B, G).t().mm(h_prev.reshape(T * B, H))  # one GEMM over T·B rows
    return d_x, dh_state, dc_state, d_w_ih, d_w_hh, d_b


def c_loop_forward(kernels, gates, bias, w_t, h0, c0, cells, tanh_c, out):
    """The unmasked LSTM forward loop, each step one GEMM and one fused kernel call (see ``lstm_fwd``)."""
    T, B, G = gates.shape
    H = G // 4
    if kernels.blas is not None and T:  # the whole loop in C
        h0, c0 = h0.contiguous(), c0.contiguous()
        kernels.lstm_fwd_loop(
            T,
            B,
            H,
            kernels.blas,
            gates.data_ptr(),
            bias.data_ptr(),
            w_t.data_ptr(),
            h0.data_ptr(),
            c0.data_ptr(),
            cells.data_ptr(),
            tanh_c.data_ptr(),
            out.data_ptr(),
        )
        return out[T - 1], cells[T - 1]
    (g_at, g_step), (c_at, step), (t_at, _), (o_at, _) = addresses(gates, cells, tanh_c, out)
    c_prev, c_prev_stride = c0.contiguous(), H
    c_prev_at = c_prev.data_ptr()
    h, outs = h0, out.unbind(0)
    for t, g_t in enumerate(gates.unbind(0)):
        g_t.addmm_(h, w_t)
        kernels.lstm_fwd(
            B,
            H,
            g_at + t * g_step,
            bias.data_ptr(),
            c_prev_at,
            c_prev_stride,
            c_at + t * step,
            t_at + t * step,
            o_at + t * step,
        )
        c_prev_at, h = c_at + t * step, outs[t]
    return (h, cells[T - 1]) if T else (h0, c0)


def c_loop_backward(kernels, gates, cells, tanh_c, c0, weight_hh, d_out, d_hn, d_cn):
    """BPTT through the unmasked LSTM, each step one fused kernel call (``lstm_bwd``) and one GEMM.

    The kernel adds the step's output gradient to the one arriving through the state, so the GEMM
    ``dh_{t-1} = D_t W_hh`` is a plain product into one of two (B, H) buffers (no addend, no allocation).
    Returns ``D`` (T, B, 4H), the gate pre-activation gradients, and the gradients of h0 and c0.
    """
    T, B, G = gates.shape
    H = G // 4
    D = scratch("lstm_backward", gates, T, B, G)
    dc = gates.new_zeros(B, H) if d_cn is None else d_cn.clone(memory_format=torch.contiguous_format)  # written
    dh = gates.new_zeros(B, H) if d_hn is None else d_hn.contiguous()
    zeros = gates.new_zeros(H)
    if d_out is not None:
        d_out = d_out.contiguous()  # kept alive by this name while its address is in use
    (dy_at, dy_step), dy_rows = ((zeros.data_ptr(), 0), 0) if d_out is None else (addresses(d_out)[0], H)
    c0 = c0.contiguous()
    if kernels.blas is not None and T:  # the whole loop in C
        if d_hn is not None:
            dh = dh.clone()  # the loop overwrites it
        dh0, weight_hh = gates.new_empty(B, H), weight_hh.contiguous()
        kernels.lstm_bwd_loop(
            T,
            B,
            H,
            kernels.blas,
            gates.data_ptr(),
            cells.data_ptr(),
            tanh_c.data_ptr(),
            c0.data_ptr(),
            weight_hh.data_ptr(),
            dy_at,
            dy_step // gates.element_size(),
            dy_rows,
            dh.data_ptr(),
            dc.data_ptr(),
            D.data_ptr(),
            dh0.data_ptr(),
        )
        return D, dh0, dc
    (g_at, g_step), (c_at, step), (t_at, _), (D_at, _) = addresses(gates, cells, tanh_c, D)
    D_steps = D.unbind(0)
    buffers = (gates.new_empty(B, H), gates.new_empty(B, H))  # dh_{t-1}, written while the kernel reads dh_t
    for t in range(T - 1, -1, -1):
        c_prev_at = c_at + (t - 1) * step if t > 0 else c0.data_ptr()
        kernels.lstm_bwd(
            B,
            H,
            g_at + t * g_step,
            t_at + t * step,
            c_prev_at,
            H,
            dh.data_ptr(),
            dy_at + t * dy_step,
            dy_rows,
            dc.data_ptr(),
            D_at + t * g_step,
        )
        if t > 0:
            dh = torch.mm(D_steps[t], weight_hh, out=buffers[t % 2])
        else:
            dh = D_steps[0].mm(weight_hh)  # returned: a tensor of its own
    return D, dh, dc


def c_loop_forward_masked(kernels, gates, bias, w_t, h0, c0, tanh_c, out, mask):
    """The LSTM forward loop for unequal lengths: one GEMM and one ``lstm_fwd_masked`` call per step.

    Returns the states entering each step, h and c (T+1, B, H) each; the last is the final state.
    """
    T, B, G = gates.shape
    H = G // 4
    states_h, states_c = gates.new_empty(T + 1, B, H), gates.new_empty(T + 1, B, H)
    states_h[0], states_c[0] = h0, c0
    mask = mask.reshape(T, B).contiguous()
    (g_at, g_step), (h_at, step), (c_at, _), (t_at, _), (o_at, _) = addresses(gates, states_h, states_c, tanh_c, out)
    if kernels.blas is not None and T:  # the whole loop in C
        kernels.lstm_fwd_masked_loop(
            T, B, H, kernels.blas, g_at, bias.data_ptr(), w_t.data_ptr(), h_at, c_at, t_at, o_at, mask.data_ptr()
        )
        return states_h, states_c
    m_at, hs = mask.data_ptr(), states_h.unbind(0)
    for t, g_t in enumerate(gates.unbind(0)):
        g_t.addmm_(hs[t], w_t)
        kernels.lstm_fwd_masked(
            B,
            H,
            g_at + t * g_step,
            bias.data_ptr(),
            c_at + t * step,
            h_at + t * step,
            c_at + (t + 1) * step,
            h_at + (t + 1) * step,
            t_at + t * step,
            o_at + t * step,
            m_at + t * B,
        )
    return states_h, states_c


def c_loop_backward_masked(kernels, gates, states_c, tanh_c, mask, weight_hh, d_out, d_hn, d_cn):
    """BPTT through the LSTM for unequal lengths: one ``lstm_bwd_masked`` call and one GEMM per step."""
    T, B, G = gates.shape
    H = G // 4
    D = scratch("lstm_backward", gates, T, B, G)
    zeros = gates.new_zeros(B, H)
    dh = zeros if d_hn is None else d_hn.contiguous()
    dc = gates.new_zeros(B, H) if d_cn is None else d_cn.clone(memory_format=torch.contiguous_format)  # written
    if d_out is not None:
        d_out = d_out.contiguous()  # kept alive by this name while its address is in use
    dy_at, dy_step = (zeros.data_ptr(), 0) if d_out is None else addresses(d_out)[0]
    carry = gates.new_empty(B, H)
    mask = mask.reshape(T, B).contiguous()
    (g_at, g_step), (t_at, step), (c_at, _), (D_at, _) = addresses(gates, tanh_c, states_c, D)
    if kernels.blas is not None and T:  # the whole loop in C
        dh, dh0, weight_hh = dh.clone(), gates.new_empty(B, H), weight_hh.contiguous()  # dh: overwritten
        kernels.lstm_bwd_masked_loop(
            T,
            B,
            H,
            kernels.blas,
            g_at,
            t_at,
            c_at,
            weight_hh.data_ptr(),
            dy_at,
            dy_step // gates.element_size(),
            mask.data_ptr(),
            dh.data_ptr(),
            dc.data_ptr(),
            carry.data_ptr(),
            D_at,
            dh0.data_ptr(),
        )
        return D, dh0, dc
    m_at, D_steps = mask.data_ptr(), D.unbind(0)
    for t in range(T - 1, -1, -1):
        kernels.lstm_bwd_masked(
            B,
            H,
            g_at + t * g_step,
            t_at + t * step,
            c_at + t * step,
            dh.data_ptr(),
            dy_at + t * dy_step,
            dc.data_ptr(),
            D_at + t * g_step,
            carry.data_ptr(),
            m_at + t * B,
        )
        dh = torch.addmm(carry, D_steps[t], weight_hh)
    return D, dh, dc


def c_inference(kernels, x, h0, c0, weight_ih, weight_hh, bias, mask):
    """The LSTM forward when nothing needs gradients: ``(out (T,B,H), h_n, c_n)``.

    Same kernels as training, but nothing is kept for a backward: the gates live in a chunk of a few
    steps, the cell state and tanh c in (B, H) buffers reused every step.
    """
    T, B, _ = x.shape
    G = weight_ih.shape[0]
    H = G // 4
    out = x.new_empty(T, B, H)
    if T == 0:
        return out, h0, c0
    w_t = weight_hh.t().contiguous()
    bias = x.new_zeros(G) if bias is None else bias.contiguous()
    chunk = x.new_empty(chunk_steps(B, G, x.element_size()), B, G)
    rows = chunk.unbind(0)  # per-step views, made once: every chunk is written into the same buffer
    tanh_c = x.new_empty(B, H)  # written, never read
    ((o_at, step),) = addresses(out)
    outs = out.unbind(0)
    if mask is None:
        cells = x.new_empty(2, B, H).unbind(0)  # c_t alternates between the two rows
        c_prev = c0.contiguous()
        h = h0
        for t0, n in chunked_projections(x, weight_ih, chunk):
            for k in range(n):
                t = t0 + k
                rows[k].addmm_(h, w_t)
                kernels.lstm_fwd(
                    B,
                    H,
                    rows[k].data_ptr(),
                    bias.data_ptr(),
                    c_prev.data_ptr(),
                    H,
                    cells[t % 2].data_ptr(),
                    tanh_c.data_ptr(),
                    o_at + t * step,
                )
                h, c_prev = outs[t], cells[t % 2]
        return out, h, c_prev
    buffer_h, buffer_c = x.new_empty(2, B, H), x.new_empty(2, B, H)  # entering / leaving, alternating
    buffer_h[0], buffer_c[0] = h0, c0
    states_h, states_c = buffer_h.unbind(0), buffer_c.unbind(0)
    mask = mask.reshape(T, B).contiguous()
    for t0, n in chunked_projections(x, weight_ih, chunk):
        for k in range(n):
            t = t0 + k
            now, nxt = t % 2, (t + 1) % 2
            rows[k].addmm_(states_h[now], w_t)
            kernels.lstm_fwd_masked(
                B,
                H,
                rows[k].data_ptr(),
                bias.data_ptr(),
                states_c[now].data_ptr(),
                states_h[now].data_ptr(),
                states_c[nxt].data_ptr(),
                states_h[nxt].data_ptr(),
                tanh_c.data_ptr(),
                o_at + t * step,
                mask[t].data_ptr(),
            )
    return out, states_h[T % 2], states_c[T % 2]


def lstm_sequence(
    x: Tensor,
    h0: Tensor,
    c0: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor | None,
    bias_hh: Tensor | None,
    mask: Tensor | None = None,
):
    """Fast LSTM over x (T, B, I): ``(out (T,B,H), (h_n, c_n))``, torch's weights and gate order.

    ``mask``: (T, B, 1) boolean, True at real steps (:func:`~seqmodels.utils.checks.step_mask`). Under
    ``torch.autocast`` it runs outside it, in ``weight_hh``'s dtype (:mod:`seqmodels.utils.precision`).
    """
    if autocast_enabled(x.device.type):
        return outside_autocast(lstm_sequence, weight_hh.dtype, x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, mask)
    bias = sum_bias(bias_ih, bias_hh)
    kernels = None if needs_grad(x, h0, c0, weight_ih, weight_hh, bias) else loader.kernels(x, h0, c0, weight_hh)
    if kernels is not None:
        out, h, c = c_inference(kernels, x, h0, c0, weight_ih, weight_hh, bias, mask)
    else:
        out, h, c = LSTMRecurrence.apply(x, h0, c0, weight_ih, weight_hh, bias, mask)
    return out, (h, c)
