"""The step loops of the ``custom`` backend that call the fused C gate kernels (:mod:`.loader`).

Used by the Functions of :mod:`.fused` on CPU when the kernels are available; the equations are those
of the Functions' docstrings, the per-step arithmetic lives in ``csrc/recurrences_impl.h``. Each loop
runs one GEMM and one kernel call per step, passing the kernels raw addresses into (T, ...) buffers
made once per sequence (``addresses``), never per-step tensors. When :mod:`.loader` found torch's BLAS
(``kernels.blas``), the training loops hand the whole sequence to a C loop (``*_loop``) that calls the
same GEMM and kernel per step without coming back to Python; the Python loops below are the fallback.

Layouts: LSTM gates (T, B, 4H) [i f g o]; GRU gates (T, B, 3H) [r z ĥ_n] and its backward's
``E`` (T, B, 4H) = [dn̂ ⊙ r, dr̂, dẑ, dn̂], whose first 3H columns are the gradient of
``W_hh h + b_hh`` with rows in the order (n, r, z). With a mask (sequences shorter than T) the states
entering each step live in their own (T+1, B, H) buffers, the last row being the final state.
"""

from __future__ import annotations

import math
import threading

import torch
from torch import Tensor

_scratch = threading.local()


def scratch(name: str, like: Tensor, *shape: int) -> Tensor:
    """An uninitialised tensor of ``shape`` reused by every call on this thread under ``name``.

    For big temporaries that live only inside one call — the backward's gate gradients (T, B, 4H), the
    GRU forward's input projection (T, B, 3H): a fresh buffer that size (tens of MB) comes straight from
    the OS and page-faults on first touch every call (glibc maps allocations above 32 MB anew each time)
    — 7 ms for a (128, 64, 1024) float32 buffer here, about 5 % of a char-shape layer's
    forward+backward. One buffer per name and thread is kept and grows when a call needs more (a smaller
    call, e.g. a short last batch, uses its front); nothing that outlives the autograd Function's forward or
    backward call may be a view of it (those Functions are once-differentiable, so no double-backward graph
    keeps one either).
    """
    buffers = _scratch.__dict__.setdefault("buffers", {})
    buf = buffers.get(name)
    numel = math.prod(shape)
    if buf is None or buf.dtype != like.dtype or buf.numel() < numel or buf.device != like.device:
        buffers[name] = None  # free the old one first
        buf = buffers[name] = torch.empty(numel, dtype=like.dtype, device=like.device)
    return buf[:numel].view(shape)


def addresses(*buffers: Tensor) -> list[tuple[int, int]]:
    """(address of step 0, bytes per step) of contiguous (T, ...) buffers, for the per-step kernel calls."""
    return [(b.data_ptr(), b[0].numel() * b.element_size() if len(b) else 0) for b in buffers]


def hidden_weight_grad(D: Tensor, out: Tensor, h0: Tensor) -> Tensor:
    """``dW_hh = Σ_t D_tᵀ h_{t-1}`` with ``h_{t-1}`` = h0 then ``out[:-1]``: two GEMMs, no (T, B, H) copy."""
    T, B, G = D.shape
    if T == 0:
        return D.new_zeros(G, h0.shape[-1])
    grad = D[0].t().mm(h0)
    if T > 1:
        grad.addmm_(D[1:].reshape((T - 1) * B, G).t(), out[:-1].reshape((T - 1) * B, -1))
    return grad


def lstm_forward(kernels, gates, bias, w_t, h0, c0, cells, tanh_c, out):
    """The unmasked LSTM forward loop, each step one GEMM and one fused kernel call (see ``lstm_fwd``)."""
    T, B, G = gates.shape
    H = G // 4
    if kernels.blas is not None and T:  # the whole loop in C
        h0, c0 = h0.contiguous(), c0.contiguous()
        kernels.lstm_fwd_loop(T, B, H, kernels.blas, gates.data_ptr(), bias.data_ptr(), w_t.data_ptr(),
                              h0.data_ptr(), c0.data_ptr(), cells.data_ptr(), tanh_c.data_ptr(), out.data_ptr())
        return out[T - 1], cells[T - 1]
    (g_at, g_step), (c_at, step), (t_at, _), (o_at, _) = addresses(gates, cells, tanh_c, out)
    c_prev, c_prev_stride = c0.contiguous(), H
    c_prev_at = c_prev.data_ptr()
    h, outs = h0, out.unbind(0)
    for t, g_t in enumerate(gates.unbind(0)):
        g_t.addmm_(h, w_t)
        kernels.lstm_fwd(B, H, g_at + t * g_step, bias.data_ptr(), c_prev_at, c_prev_stride, c_at + t * step,
                         t_at + t * step, o_at + t * step)
        c_prev_at, h = c_at + t * step, outs[t]
    return (h, cells[T - 1]) if T else (h0, c0)


def lstm_backward(kernels, gates, cells, tanh_c, c0, weight_hh, d_out, d_hn, d_cn):
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
        kernels.lstm_bwd_loop(T, B, H, kernels.blas, gates.data_ptr(), cells.data_ptr(), tanh_c.data_ptr(),
                              c0.data_ptr(), weight_hh.data_ptr(), dy_at, dy_step // gates.element_size(), dy_rows,
                              dh.data_ptr(), dc.data_ptr(), D.data_ptr(), dh0.data_ptr())
        return D, dh0, dc
    (g_at, g_step), (c_at, step), (t_at, _), (D_at, _) = addresses(gates, cells, tanh_c, D)
    D_steps = D.unbind(0)
    buffers = (gates.new_empty(B, H), gates.new_empty(B, H))  # dh_{t-1}, written while the kernel reads dh_t
    for t in range(T - 1, -1, -1):
        c_prev_at = c_at + (t - 1) * step if t > 0 else c0.data_ptr()
        kernels.lstm_bwd(B, H, g_at + t * g_step, t_at + t * step, c_prev_at, H, dh.data_ptr(), dy_at + t * dy_step,
                         dy_rows, dc.data_ptr(), D_at + t * g_step)
        if t > 0:
            dh = torch.mm(D_steps[t], weight_hh, out=buffers[t % 2])
        else:
            dh = D_steps[0].mm(weight_hh)  # returned: a tensor of its own
    return D, dh, dc


def rnn_forward(kernels, act, w_t, h0, relu):
    """The unmasked vanilla RNN forward as one C loop (``rnn_fwd_loop``): ``act`` (T, B, H) holds
    ``X W_ihᵀ + b`` and leaves as the activations; ``w_t`` = W_hhᵀ, contiguous.

    Only with ``kernels.blas`` (the RNN has no Python-driven native loop: without the C loops it runs the
    ATen ops of :mod:`.fused`).
    """
    T, B, H = act.shape
    if T:
        h0 = h0.contiguous()
        kernels.rnn_fwd_loop(T, B, H, kernels.blas, act.data_ptr(), w_t.data_ptr(), h0.data_ptr(), int(relu))


def rnn_backward(kernels, act, weight_hh, d_out, d_hn, relu):
    """BPTT through :func:`rnn_forward` (``rnn_bwd_loop``): ``D`` (T, B, H), the pre-activation gradients,
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
    kernels.rnn_bwd_loop(T, B, H, kernels.blas, act.data_ptr(), weight_hh.data_ptr(), dy_at, dy_step, dh.data_ptr(),
                         D.data_ptr(), dh0.data_ptr(), int(relu))
    return D, dh0


def nrz_to_rzn(a: Tensor) -> Tensor:
    """Blocks of rows (n, r, z) → torch's GRU order (r, z, n) (and the inverse of ``rzn_to_nrz``)."""
    n, r, z = a.chunk(3)
    return torch.cat([r, z, n])


def rzn_to_nrz(a: Tensor) -> Tensor:
    r, z, n = a.chunk(3)
    return torch.cat([n, r, z])


def gru_forward(kernels, x_hat, w_t, bias_ih, bias_hh, h0, mask):
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
    if kernels.blas is not None and T:  # the whole loop in C (w_t is contiguous: fused._transposed)
        if mask is None:
            states, h0 = None, h0.contiguous()
            kernels.gru_fwd_loop(T, B, H, kernels.blas, g_at, bi_at, bh_at, x_at, w_t.data_ptr(), h0.data_ptr(), n_at,
                                 o_at)
        else:
            states = x_hat.new_empty(T + 1, B, H)
            states[0] = h0
            mask = mask.reshape(T, B).contiguous()
            kernels.gru_fwd_masked_loop(T, B, H, kernels.blas, g_at, bi_at, bh_at, x_at, w_t.data_ptr(),
                                        states.data_ptr(), n_at, o_at, mask.data_ptr())
        return gates, new, out, states
    if mask is None:
        states = None
        h = h0.contiguous()
        h_at, outs = h.data_ptr(), out.unbind(0)
        for t, g_t in enumerate(gates.unbind(0)):
            torch.mm(h, w_t, out=g_t)
            kernels.gru_fwd(B, H, g_at + t * g_step, bi_at, bh_at, x_at + t * g_step, G, h_at, H, n_at + t * step,
                            o_at + t * step)
            h, h_at = outs[t], o_at + t * step
    else:
        states = x_hat.new_empty(T + 1, B, H)
        states[0] = h0
        mask = mask.reshape(T, B).contiguous()
        s_at, m_at, hs = states.data_ptr(), mask.data_ptr(), states.unbind(0)
        for t, g_t in enumerate(gates.unbind(0)):
            torch.mm(hs[t], w_t, out=g_t)
            kernels.gru_fwd_masked(B, H, g_at + t * g_step, bi_at, bh_at, x_at + t * g_step, G, s_at + t * step,
                                   s_at + (t + 1) * step, n_at + t * step, o_at + t * step, m_at + t * B)
    return gates, new, out, states


def gru_backward(kernels, gates, new, out, h0, weight_hh, d_out, d_hn, states, mask):
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
            kernels.gru_bwd_loop(T, B, H, kernels.blas, g_at, n_at, out.data_ptr(), h0.data_ptr(), w_nrz.data_ptr(),
                                 dy_at, dy_step, dh.data_ptr(), carry.data_ptr(), E_at, zeros.data_ptr(),
                                 dh0.data_ptr())
        else:
            dh, mask = dh.clone(), mask.reshape(T, B).contiguous()  # dh: overwritten
            kernels.gru_bwd_masked_loop(T, B, H, kernels.blas, g_at, n_at, states.data_ptr(), w_nrz.data_ptr(),
                                        dy_at, dy_step, mask.data_ptr(), dh.data_ptr(), carry.data_ptr(), E_at,
                                        zeros.data_ptr(), dh0.data_ptr())
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
            kernels.gru_bwd(B, H, g_at + t * g_step, n_at + t * step, h_prev_at, H, dh.data_ptr(), dy_prev_at,
                            E_at + t * E_step, carry.data_ptr(), zeros.data_ptr())
            dh = torch.addmm(carry, E_steps[t], w_nrz)
    else:
        mask = mask.reshape(T, B).contiguous()
        s_at, m_at = states.data_ptr(), mask.data_ptr()
        for t in range(T - 1, -1, -1):
            kernels.gru_bwd_masked(B, H, g_at + t * g_step, n_at + t * step, s_at + t * step, dh.data_ptr(),
                                   dy_at + t * dy_step, E_at + t * E_step, carry.data_ptr(), m_at + t * B,
                                   zeros.data_ptr())
            dh = torch.addmm(carry, E_steps[t], w_nrz)
    return E, dh


def lstm_forward_masked(kernels, gates, bias, w_t, h0, c0, tanh_c, out, mask):
    """The LSTM forward loop for unequal lengths: one GEMM and one ``lstm_fwd_masked`` call per step.

    Returns the states entering each step, h and c (T+1, B, H) each; the last is the final state.
    """
    T, B, G = gates.shape
    H = G // 4
    states_h, states_c = gates.new_empty(T + 1, B, H), gates.new_empty(T + 1, B, H)
    states_h[0], states_c[0] = h0, c0
    mask = mask.reshape(T, B).contiguous()
    (g_at, g_step), (h_at, step), (c_at, _), (t_at, _), (o_at, _) = addresses(gates, states_h, states_c, tanh_c,
                                                                                out)
    if kernels.blas is not None and T:  # the whole loop in C
        kernels.lstm_fwd_masked_loop(T, B, H, kernels.blas, g_at, bias.data_ptr(), w_t.data_ptr(), h_at, c_at, t_at,
                                     o_at, mask.data_ptr())
        return states_h, states_c
    m_at, hs = mask.data_ptr(), states_h.unbind(0)
    for t, g_t in enumerate(gates.unbind(0)):
        g_t.addmm_(hs[t], w_t)
        kernels.lstm_fwd_masked(B, H, g_at + t * g_step, bias.data_ptr(), c_at + t * step, h_at + t * step,
                                c_at + (t + 1) * step, h_at + (t + 1) * step, t_at + t * step, o_at + t * step,
                                m_at + t * B)
    return states_h, states_c


def lstm_backward_masked(kernels, gates, states_c, tanh_c, mask, weight_hh, d_out, d_hn, d_cn):
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
        kernels.lstm_bwd_masked_loop(T, B, H, kernels.blas, g_at, t_at, c_at, weight_hh.data_ptr(), dy_at,
                                     dy_step // gates.element_size(), mask.data_ptr(), dh.data_ptr(), dc.data_ptr(),
                                     carry.data_ptr(), D_at, dh0.data_ptr())
        return D, dh0, dc
    m_at, D_steps = mask.data_ptr(), D.unbind(0)
    for t in range(T - 1, -1, -1):
        kernels.lstm_bwd_masked(B, H, g_at + t * g_step, t_at + t * step, c_at + t * step, dh.data_ptr(),
                                dy_at + t * dy_step, dc.data_ptr(), D_at + t * g_step, carry.data_ptr(),
                                m_at + t * B)
        dh = torch.addmm(carry, D_steps[t], weight_hh)
    return D, dh, dc


# ------------------------------------------------------------------------- inference (no autograd)
INFERENCE_CHUNK_BYTES = 1 << 20  # input projection per chunk of steps: about a megabyte of gates


def _chunk_steps(B: int, G: int, itemsize: int) -> int:
    """Steps whose input projection is computed at once in inference: few enough that the chunk is still in
    cache when the recurrence reads it (the full (T, B, G) buffer would make every step read it from memory)."""
    return max(1, INFERENCE_CHUNK_BYTES // max(1, B * G * itemsize))


def _projections(x: Tensor, weight_ih: Tensor, chunk: Tensor):
    """Yields ``(t0, n)`` after writing ``x[t0:t0+n] W_ihᵀ`` (no bias) into ``chunk[:n]``, for every chunk."""
    T, B, I = x.shape
    C, w_ih_t = chunk.shape[0], weight_ih.t()
    for t0 in range(0, T, C):
        n = min(C, T - t0)
        torch.mm(x[t0 : t0 + n].reshape(n * B, I), w_ih_t, out=chunk[:n].view(n * B, -1))
        yield t0, n


def lstm_inference(kernels, x, h0, c0, weight_ih, weight_hh, bias, mask):
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
    chunk = x.new_empty(_chunk_steps(B, G, x.element_size()), B, G)
    rows = chunk.unbind(0)  # per-step views, made once: every chunk is written into the same buffer
    tanh_c = x.new_empty(B, H)  # written, never read
    (o_at, step), = addresses(out)
    outs = out.unbind(0)
    if mask is None:
        cells = x.new_empty(2, B, H).unbind(0)  # c_t alternates between the two rows
        c_prev = c0.contiguous()
        h = h0
        for t0, n in _projections(x, weight_ih, chunk):
            for k in range(n):
                t = t0 + k
                rows[k].addmm_(h, w_t)
                kernels.lstm_fwd(B, H, rows[k].data_ptr(), bias.data_ptr(), c_prev.data_ptr(), H,
                                 cells[t % 2].data_ptr(), tanh_c.data_ptr(), o_at + t * step)
                h, c_prev = outs[t], cells[t % 2]
        return out, h, c_prev
    buffer_h, buffer_c = x.new_empty(2, B, H), x.new_empty(2, B, H)  # entering / leaving, alternating
    buffer_h[0], buffer_c[0] = h0, c0
    states_h, states_c = buffer_h.unbind(0), buffer_c.unbind(0)
    mask = mask.reshape(T, B).contiguous()
    for t0, n in _projections(x, weight_ih, chunk):
        for k in range(n):
            t = t0 + k
            now, nxt = t % 2, (t + 1) % 2
            rows[k].addmm_(states_h[now], w_t)
            kernels.lstm_fwd_masked(B, H, rows[k].data_ptr(), bias.data_ptr(), states_c[now].data_ptr(),
                                    states_h[now].data_ptr(), states_c[nxt].data_ptr(), states_h[nxt].data_ptr(),
                                    tanh_c.data_ptr(), o_at + t * step, mask[t].data_ptr())
    return out, states_h[T % 2], states_c[T % 2]


def gru_inference(kernels, x, h0, weight_ih, weight_hh, bias_ih, bias_hh, mask):
    """The GRU forward when nothing needs gradients: ``(out (T,B,H), h_n)``; as :func:`lstm_inference`."""
    T, B, _ = x.shape
    G = weight_ih.shape[0]
    H = G // 3
    out = x.new_empty(T, B, H)
    if T == 0:
        return out, h0
    w_t = weight_hh.t().contiguous()
    b_ih = x.new_zeros(G) if bias_ih is None else bias_ih.contiguous()
    b_hh = x.new_zeros(G) if bias_hh is None else bias_hh.contiguous()
    chunk = x.new_empty(_chunk_steps(B, G, x.element_size()), B, G)  # W_ih x_t
    rows = chunk.unbind(0)
    hidden = x.new_empty(B, G)  # W_hh h_{t-1}, then [r z ĥ_n]
    new = x.new_empty(B, H)  # n, written, never read
    (o_at, step), = addresses(out)
    outs = out.unbind(0)
    if mask is None:
        h = h0.contiguous()
        for t0, n in _projections(x, weight_ih, chunk):
            for k in range(n):
                t = t0 + k
                torch.mm(h, w_t, out=hidden)
                kernels.gru_fwd(B, H, hidden.data_ptr(), b_ih.data_ptr(), b_hh.data_ptr(), rows[k].data_ptr(), G,
                                h.data_ptr(), H, new.data_ptr(), o_at + t * step)
                h = outs[t]
        return out, h
    buffer = x.new_empty(2, B, H)
    buffer[0] = h0
    states = buffer.unbind(0)
    mask = mask.reshape(T, B).contiguous()
    for t0, n in _projections(x, weight_ih, chunk):
        for k in range(n):
            t = t0 + k
            now, nxt = t % 2, (t + 1) % 2
            torch.mm(states[now], w_t, out=hidden)
            kernels.gru_fwd_masked(B, H, hidden.data_ptr(), b_ih.data_ptr(), b_hh.data_ptr(), rows[k].data_ptr(),
                                   G, states[now].data_ptr(), states[nxt].data_ptr(), new.data_ptr(),
                                   o_at + t * step, mask[t].data_ptr())
    return out, states[T % 2]
