"""Sequence-level autograd Functions: the hand-written BPTT as the fast ``custom`` backend.

Each recurrence is split where autograd is already optimal and where it is not:

* the input path ``X̂ = X W_ihᵀ + b`` for all T steps is one GEMM *outside* the Function, so
  autograd computes ``dW_ih = Dᵀ X`` and ``dX = D W_ih`` as one GEMM each over the T·B rows;
* the recurrence proper runs inside a :class:`torch.autograd.Function` whose forward writes each
  step straight into preallocated (T, B, ·) buffers (no autograd graph, no per-step tensors kept)
  and whose backward is the step-by-step BPTT of :mod:`seqmodels.functional` (same equations;
  see the docstrings of :func:`~seqmodels.functional.lstm_forward`, ``gru_forward``,
  ``rnn_forward``), collecting the per-step gate gradients ``D`` (T, B, G·H) so that
  ``dW_hh = Dᵀ H_prev`` is again a single GEMM over the T·B rows.

Only ``W_hhᵀ d_gates_t`` and the elementwise gate math run inside the time loop, each step as a
handful of in-place ops. With ``lengths`` the semantics are those of
:class:`seqmodels.layers.Recurrent`: a padded step keeps the state and outputs zero.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn.functional import linear


def _sum_bias(a: Tensor | None, b: Tensor | None) -> Tensor | None:
    if a is None:
        return b
    return a if b is None else a + b


def _masks(mask: Tensor | None, T: int) -> list:
    return [None] * T if mask is None else list(mask.unbind(0))


# ---------------------------------------------------------------------------------------- LSTM
class LSTMRecurrence(torch.autograd.Function):
    """``(X̂ (T,B,4H), h0, c0, W_hh (4H,H), mask|None) -> (out (T,B,H), h_n, c_n)``; X̂ holds both biases."""

    @staticmethod
    def forward(ctx, x_hat: Tensor, h0: Tensor, c0: Tensor, weight_hh: Tensor, mask: Tensor | None):
        T, B, G = x_hat.shape
        H = G // 4
        w_t = weight_hh.t()
        gates = x_hat.new_empty(T, B, G)  # activated [i, f, g, o]
        cells = x_hat.new_empty(T, B, H)  # c_t before masking
        tanh_c = x_hat.new_empty(T, B, H)
        out = x_hat.new_empty(T, B, H)
        h_prev = x_hat.new_empty(T, B, H) if mask is not None else None
        c_prev = x_hat.new_empty(T, B, H) if mask is not None else None
        h, c = h0, c0
        steps = zip(x_hat.unbind(0), gates.unbind(0), cells.unbind(0), tanh_c.unbind(0), out.unbind(0), _masks(mask, T))
        for t, (xh, g_t, c_t, tc_t, o_t, m) in enumerate(steps):
            torch.addmm(xh, h, w_t, out=g_t)
            g_t[:, : 2 * H].sigmoid_()
            g_t[:, 2 * H : 3 * H].tanh_()
            g_t[:, 3 * H :].sigmoid_()
            i, f, g, o = g_t.split(H, dim=1)
            torch.mul(f, c, out=c_t).addcmul_(i, g)
            torch.tanh(c_t, out=tc_t)
            torch.mul(o, tc_t, out=o_t)
            if m is None:
                h, c = o_t, c_t
            else:
                h_prev[t].copy_(h)
                c_prev[t].copy_(c)
                h, c = torch.where(m, o_t, h), torch.where(m, c_t, c)
                o_t.masked_fill_(~m, 0.0)
        ctx.save_for_backward(gates, cells, tanh_c, out, h0, c0, weight_hh, h_prev, c_prev, mask)
        return out, h, c

    @staticmethod
    def backward(ctx, d_out: Tensor | None, d_hn: Tensor | None, d_cn: Tensor | None):
        gates, cells, tanh_c, out, h0, c0, weight_hh, h_prev, c_prev, mask = ctx.saved_tensors
        T, B, G = gates.shape
        H = G // 4
        d_out = out.new_zeros(T, B, H) if d_out is None else d_out
        dh_state = h0.new_zeros(B, H) if d_hn is None else d_hn
        dc_state = c0.new_zeros(B, H) if d_cn is None else d_cn
        if mask is None:
            h_prev = torch.cat([h0[None], out[:-1]])  # (T, B, H): h_{t-1} of each step
            c_prev = torch.cat([c0[None], cells[:-1]])
        D = gates.new_empty(T, B, G)  # gradient of the gate pre-activations, all steps
        if mask is None:
            dh = dh_state + d_out[T - 1] if T else dh_state  # vertical + horizontal
            for t in range(T - 1, -1, -1):
                dc = _lstm_gate_grads(dh, dc_state.clone(), gates[t], tanh_c[t], c_prev[t], D[t])
                dc_state = dc * gates[t, :, H : 2 * H]  # dc_{t-1} = dc_t ⊙ f
                # dh_{t-1} = dy_{t-1} + W_hhᵀ d_gates_t (row form: D_t · W_hh)
                dh = torch.addmm(d_out[t - 1], D[t], weight_hh) if t > 0 else D[t].mm(weight_hh)
            dh_state = dh
        else:
            for t, m in zip(range(T - 1, -1, -1), reversed(mask.unbind(0))):
                dh = (dh_state + d_out[t]).masked_fill_(~m, 0.0)  # a padded step did not run
                dc = _lstm_gate_grads(dh, dc_state.masked_fill(~m, 0.0), gates[t], tanh_c[t], c_prev[t], D[t])
                # padded rows: the state passed straight through, so does its gradient
                dh_state = torch.addmm(dh_state.masked_fill(m, 0.0), D[t], weight_hh)
                dc_state = torch.addcmul(dc_state.masked_fill(m, 0.0), dc, gates[t, :, H : 2 * H])
        d_w_hh = D.reshape(T * B, G).t().mm(h_prev.reshape(T * B, H))  # one GEMM over T·B rows
        return D, dh_state, dc_state, d_w_hh, None


def _lstm_gate_grads(dh: Tensor, dc: Tensor, gates: Tensor, tanh_c: Tensor, c_prev: Tensor, d_gates: Tensor) -> Tensor:
    """One step of LSTM BPTT: writes ``d_gates`` (B, 4H) in place and returns ``dc_t``.

    ``dc_t = dc_next + dh ⊙ o ⊙ (1 - tanh²c_t)``; ``di = dc_t ⊙ g ⊙ i(1-i)``,
    ``df = dc_t ⊙ c_{t-1} ⊙ f(1-f)``, ``dg = dc_t ⊙ i ⊙ (1-g²)``, ``do = dh ⊙ tanh c_t ⊙ o(1-o)``.
    ``dc`` must be a tensor this function may overwrite.
    """
    i, f, g, o = gates.split(gates.shape[1] // 4, dim=1)
    di, df, dg, do = d_gates.split(gates.shape[1] // 4, dim=1)
    torch.mul(dh, tanh_c, out=do)
    dc.addcmul_(dh * o, 1 - tanh_c * tanh_c)
    do.mul_(o * (1 - o))
    torch.mul(dc, g, out=di).mul_(i * (1 - i))
    torch.mul(dc, c_prev, out=df).mul_(f * (1 - f))
    torch.mul(dc, i, out=dg).mul_(1 - g * g)
    return dc


def lstm_sequence(x: Tensor, h0: Tensor, c0: Tensor, weight_ih: Tensor, weight_hh: Tensor,
                  bias_ih: Tensor | None, bias_hh: Tensor | None, mask: Tensor | None = None):
    """Fast LSTM over x (T, B, I): ``(out (T,B,H), (h_n, c_n))``, torch's weights and gate order."""
    x_hat = linear(x, weight_ih, _sum_bias(bias_ih, bias_hh))  # (T, B, 4H), one GEMM
    out, h, c = LSTMRecurrence.apply(x_hat, h0, c0, weight_hh, mask)
    return out, (h, c)


# ----------------------------------------------------------------------------------------- GRU
class GRURecurrence(torch.autograd.Function):
    """Torch-form GRU (reset after the matmul).

    ``(X̂ (T,B,3H) = X W_ihᵀ + b_ih, h0, W_hh (3H,H), b_hh (3H,)|None, mask|None) -> (out (T,B,H), h_n)``.
    Backward returns ``dX̂ = [dr̂, dẑ, dn̂]`` and ``d(W_hh h + b_hh) = [dr̂, dẑ, dn̂ ⊙ r]`` collected over
    all steps, so ``dW_hh`` and ``db_hh`` are one GEMM and one sum over the T·B rows.
    """

    @staticmethod
    def forward(ctx, x_hat: Tensor, h0: Tensor, weight_hh: Tensor, bias_hh: Tensor | None, mask: Tensor | None):
        T, B, G = x_hat.shape
        H = G // 3
        w_t = weight_hh.t()
        gates = x_hat.new_empty(T, B, G)  # [r, z, n]
        hidden = x_hat.new_empty(T, B, G)  # W_hh h_{t-1} + b_hh
        out = x_hat.new_empty(T, B, H)
        h_prev = x_hat.new_empty(T, B, H) if mask is not None else None
        h = h0
        steps = zip(x_hat.unbind(0), gates.unbind(0), hidden.unbind(0), out.unbind(0), _masks(mask, T))
        for t, (xh, g_t, hid, o_t, m) in enumerate(steps):
            if bias_hh is None:
                torch.mm(h, w_t, out=hid)
            else:
                torch.addmm(bias_hh, h, w_t, out=hid)
            torch.add(xh[:, : 2 * H], hid[:, : 2 * H], out=g_t[:, : 2 * H]).sigmoid_()
            r, z, n = g_t.split(H, dim=1)
            torch.mul(r, hid[:, 2 * H :], out=n).add_(xh[:, 2 * H :]).tanh_()
            torch.sub(h, n, out=o_t).mul_(z).add_(n)  # h' = n + z ⊙ (h - n)
            if m is None:
                h = o_t
            else:
                h_prev[t].copy_(h)
                h = torch.where(m, o_t, h)
                o_t.masked_fill_(~m, 0.0)
        ctx.has_bias_hh = bias_hh is not None
        ctx.save_for_backward(gates, hidden, out, h0, weight_hh, h_prev, mask)
        return out, h

    @staticmethod
    def backward(ctx, d_out: Tensor | None, d_hn: Tensor | None):
        gates, hidden, out, h0, weight_hh, h_prev, mask = ctx.saved_tensors
        T, B, G = gates.shape
        H = G // 3
        d_out = out.new_zeros(T, B, H) if d_out is None else d_out
        dh_state = h0.new_zeros(B, H) if d_hn is None else d_hn
        if mask is None:
            h_prev = torch.cat([h0[None], out[:-1]])  # (T, B, H)
        d_in = gates.new_empty(T, B, G)  # [dr̂, dẑ, dn̂]
        d_hid = gates.new_empty(T, B, G)  # [dr̂, dẑ, dn̂ ⊙ r]
        masks = _masks(mask, T)
        for t in range(T - 1, -1, -1):
            m = masks[t]
            dh = dh_state + d_out[t]
            if m is not None:
                dh.masked_fill_(~m, 0.0)
            r, z, n = gates[t].split(H, dim=1)
            dr, dz, dn = d_in[t].split(H, dim=1)
            # dn̂ = dh ⊙ (1 - z) ⊙ (1 - n²);  dẑ = dh ⊙ (h - n) ⊙ z(1 - z);  dr̂ = dn̂ ⊙ ĥ_n ⊙ r(1 - r)
            torch.mul(dh, 1 - z, out=dn).mul_(1 - n * n)
            torch.mul(dh, h_prev[t] - n, out=dz).mul_(z * (1 - z))
            torch.mul(dn, hidden[t, :, 2 * H :], out=dr).mul_(r * (1 - r))
            d_hid[t, :, : 2 * H].copy_(d_in[t, :, : 2 * H])
            torch.mul(dn, r, out=d_hid[t, :, 2 * H :])
            # dh_{t-1} = dh ⊙ z + W_hhᵀ d_hidden_t  (+ the carried gradient at padded rows)
            carried = dh_state if m is None else dh_state.masked_fill(m, 0.0)
            dh_state = torch.addmm(torch.addcmul(carried, dh, z) if m is not None else dh * z, d_hid[t], weight_hh)
        d_hid2 = d_hid.reshape(T * B, G)
        d_w_hh = d_hid2.t().mm(h_prev.reshape(T * B, H))  # one GEMM over T·B rows
        d_b_hh = d_hid2.sum(0) if ctx.has_bias_hh else None
        return d_in, dh_state, d_w_hh, d_b_hh, None


def gru_sequence(x: Tensor, h0: Tensor, weight_ih: Tensor, weight_hh: Tensor,
                 bias_ih: Tensor | None, bias_hh: Tensor | None, mask: Tensor | None = None):
    """Fast torch-form GRU over x (T, B, I): ``(out (T,B,H), h_n)``."""
    x_hat = linear(x, weight_ih, bias_ih)  # (T, B, 3H), one GEMM
    return GRURecurrence.apply(x_hat, h0, weight_hh, bias_hh, mask)


# ----------------------------------------------------------------------------------------- RNN
class RNNRecurrence(torch.autograd.Function):
    """``(X̂ (T,B,H) with both biases, h0, W_hh, relu: bool, mask|None) -> (out (T,B,H), h_n)``."""

    @staticmethod
    def forward(ctx, x_hat: Tensor, h0: Tensor, weight_hh: Tensor, relu: bool, mask: Tensor | None):
        T, B, H = x_hat.shape
        w_t = weight_hh.t()
        act = x_hat.new_empty(T, B, H)  # a_t = φ(z_t), before masking
        out = act if mask is None else x_hat.new_empty(T, B, H)
        h_prev = x_hat.new_empty(T, B, H) if mask is not None else None
        h = h0
        for t, (xh, a_t, m) in enumerate(zip(x_hat.unbind(0), act.unbind(0), _masks(mask, T))):
            torch.addmm(xh, h, w_t, out=a_t)
            a_t.relu_() if relu else a_t.tanh_()
            if m is None:
                h = a_t
            else:
                h_prev[t].copy_(h)
                h = torch.where(m, a_t, h)
                torch.mul(a_t, m, out=out[t])
        ctx.relu = relu
        ctx.save_for_backward(act, h0, weight_hh, h_prev, mask)
        return out, h

    @staticmethod
    def backward(ctx, d_out: Tensor | None, d_hn: Tensor | None):
        act, h0, weight_hh, h_prev, mask = ctx.saved_tensors
        T, B, H = act.shape
        d_out = act.new_zeros(T, B, H) if d_out is None else d_out
        dh_state = h0.new_zeros(B, H) if d_hn is None else d_hn
        if mask is None:
            h_prev = torch.cat([h0[None], act[:-1]])
        D = act.new_empty(T, B, H)  # dz_t, the pre-activation gradients
        masks = _masks(mask, T)
        for t in range(T - 1, -1, -1):
            m = masks[t]
            dh = dh_state + d_out[t]  # vertical + horizontal
            if m is not None:
                dh.masked_fill_(~m, 0.0)
            a = act[t]
            if ctx.relu:
                torch.mul(dh, a > 0, out=D[t])
            else:
                torch.addcmul(dh, dh, a * a, value=-1.0, out=D[t])  # dtanh = dh ⊙ (1 - a²)
            carried = 0.0 if m is None else dh_state.masked_fill(m, 0.0)
            dh_state = D[t].mm(weight_hh) if m is None else torch.addmm(carried, D[t], weight_hh)
        d_w_hh = D.reshape(T * B, H).t().mm(h_prev.reshape(T * B, H))  # one GEMM over T·B rows
        return D, dh_state, d_w_hh, None, None


def rnn_sequence(x: Tensor, h0: Tensor, weight_ih: Tensor, weight_hh: Tensor,
                 bias_ih: Tensor | None, bias_hh: Tensor | None, mask: Tensor | None = None,
                 nonlinearity: str = "tanh"):
    """Fast vanilla RNN over x (T, B, I): ``(out (T,B,H), h_n)``."""
    x_hat = linear(x, weight_ih, _sum_bias(bias_ih, bias_hh))  # (T, B, H), one GEMM
    return RNNRecurrence.apply(x_hat, h0, weight_hh, nonlinearity == "relu", mask)
