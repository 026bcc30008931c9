"""The hand-written BPTT reference (seqmodels.functional) against its oracles.

- forward: equals seqmodels.layers.Recurrent and torch.nn.RNN/GRU/LSTM (packed sequences for lengths);
- backward: equals autograd through the cell's own ``forward`` called one step at a time in a Python loop
  (``step_loop``; not Recurrent, whose LSTM/GRU/RNN path is our fused kernel with its own hand-written
  backward), for random output and final-state gradients, with and without lengths, with and without bias;
- gradcheck on the forward wrapped in an autograd.Function whose backward is the hand-written one;
- equation transcriptions: the issue's column-form RNN backward, the textbook GRU
  ``h̃ = tanh(W_c [r*h, x] + b_c)`` and the simplified GRU, written out here with concatenated weights.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqmodels.cells import GRUCell, LSTMCell, RNNCell, SimplifiedGRUCell
from seqmodels.functional import (
    gru_backward,
    gru_forward,
    lstm_backward,
    lstm_forward,
    rnn_backward,
    rnn_forward,
)
from seqmodels.layers import Recurrent
from tests.helpers import copy_torch_rnn_weights, max_abs_diff

TOL = 1e-10
DT = torch.float64
T, B, I, H = 6, 4, 3, 5
LENGTHS = torch.tensor([6, 2, 1, 4])


@dataclass(frozen=True)
class Kind:
    """One recurrence: its cell, its functional pair, and its torch module when torch has one."""

    cell: Callable[..., nn.Module]  # (input_size, hidden_size, bias) -> cell
    forward: Callable
    backward: Callable
    num_states: int  # 1 for h, 2 for (h, c)
    torch_module: Callable[..., nn.RNNBase] | None = None  # (input_size, hidden_size, bias) -> module


KINDS = {
    "rnn_tanh": Kind(
        partial(RNNCell, nonlinearity="tanh"),
        partial(rnn_forward, nonlinearity="tanh"),
        rnn_backward,
        1,
        partial(nn.RNN, nonlinearity="tanh"),
    ),
    "rnn_relu": Kind(
        partial(RNNCell, nonlinearity="relu"),
        partial(rnn_forward, nonlinearity="relu"),
        rnn_backward,
        1,
        partial(nn.RNN, nonlinearity="relu"),
    ),
    "lstm": Kind(LSTMCell, lstm_forward, lstm_backward, 2, nn.LSTM),
    "gru": Kind(partial(GRUCell, reset_after=True), partial(gru_forward, reset_after=True), gru_backward, 1, nn.GRU),
    "gru_textbook": Kind(partial(GRUCell, reset_after=False), partial(gru_forward, reset_after=False), gru_backward, 1),
}
TORCH_KINDS = [name for name, kind in KINDS.items() if kind.torch_module is not None]


def make_cell(kind: Kind, bias: bool, input_size: int = I, hidden_size: int = H) -> nn.Module:
    cell = kind.cell(input_size, hidden_size, bias=bias).to(DT)
    with torch.no_grad():  # wider than the ±1/√H init, so that saturation and relu kinks are exercised
        for p in cell.parameters():
            p.uniform_(-0.8, 0.8)
    return cell


def cell_params(cell: nn.Module) -> list:
    return [cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh]


def random_states(kind: Kind, batch: int = B, hidden: int = H) -> list[torch.Tensor]:
    return [torch.randn(batch, hidden, dtype=DT) for _ in range(kind.num_states)]


def as_cell_state(states: list[torch.Tensor]):
    return states[0] if len(states) == 1 else tuple(states)


def as_list(state) -> list[torch.Tensor]:
    return [state] if isinstance(state, torch.Tensor) else list(state)


# ------------------------------------------------------------------------------------- forward
@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["full", "lengths"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("name", KINDS)
def test_forward_matches_recurrent_layer(name, bias, lengths, seed):
    kind = KINDS[name]
    cell = make_cell(kind, bias)
    x = torch.randn(T, B, I, dtype=DT)
    states = random_states(kind)
    with torch.no_grad():
        out_ref, state_ref = Recurrent(cell)(x, as_cell_state(states), lengths=lengths)
        out, state, _ = kind.forward(x, *states, *cell_params(cell), lengths=lengths)
    assert max_abs_diff(out, out_ref) <= TOL
    assert max_abs_diff(as_list(state), as_list(state_ref)) <= TOL
    if lengths is not None:  # padded steps give exactly zero
        pad = torch.arange(T)[:, None] >= lengths[None, :]  # (T, B)
        assert torch.all(out[pad] == 0)


@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["full", "lengths"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("name", TORCH_KINDS)
def test_forward_matches_torch(name, bias, lengths, seed):
    kind = KINDS[name]
    module = kind.torch_module(I, H, bias=bias).to(DT)
    cell = make_cell(kind, bias)
    copy_torch_rnn_weights([cell], module)
    x = torch.randn(T, B, I, dtype=DT)
    states = random_states(kind)
    torch_state = tuple(s[None] for s in states) if kind.num_states == 2 else states[0][None]  # (1, B, H)
    with torch.no_grad():
        if lengths is None:
            out_ref, state_ref = module(x, torch_state)
        else:
            packed, state_ref = module(pack_padded_sequence(x, lengths, enforce_sorted=False), torch_state)
            out_ref, _ = pad_packed_sequence(packed, total_length=T)
        out, state, _ = kind.forward(x, *states, *cell_params(cell), lengths=lengths)
    assert max_abs_diff(out, out_ref) <= TOL
    assert max_abs_diff(as_list(state), [s[0] for s in as_list(state_ref)]) <= TOL


# ------------------------------------------------------------------------------------ backward
def step_loop(cell: nn.Module, x: torch.Tensor, state, lengths: torch.Tensor | None):
    """The autograd oracle: ``cell(x_t, state)`` (the cell's one-step ``forward``) in a Python loop, so that
    autograd differentiates the cell's own equations; no fused kernel or hand-written backward is involved.
    Step t of sequence b is real when t < lengths[b]; a padded step keeps the state and outputs zero."""
    outputs = []
    for t, x_t in enumerate(x):
        h, new_state = cell(x_t, state)
        if lengths is None:
            state = new_state
        else:
            real = (t < lengths)[:, None]  # (B, 1)
            keep = [torch.where(real, n, o) for n, o in zip(as_list(new_state), as_list(state))]
            state = as_cell_state(keep)
            h = torch.where(real, h, torch.zeros((), dtype=h.dtype))
        outputs.append(h)
    return torch.stack(outputs), state


@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["full", "lengths"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("name", KINDS)
def test_backward_matches_autograd_through_the_step_loop(name, bias, lengths, seed):
    kind = KINDS[name]
    cell = make_cell(kind, bias)
    x = torch.randn(T, B, I, dtype=DT, requires_grad=True)
    states = [s.requires_grad_() for s in random_states(kind)]
    out, state = step_loop(cell, x, as_cell_state(states), lengths)
    grad_out = torch.randn_like(out)
    grad_states = random_states(kind)
    loss = (out * grad_out).sum() + sum((s * g).sum() for s, g in zip(as_list(state), grad_states))
    params = [p for p in cell_params(cell) if p is not None]
    expected = torch.autograd.grad(loss, [x, *states, *params])

    with torch.no_grad():
        out_fn, _, cache = kind.forward(x, *states, *cell_params(cell), lengths=lengths)
        grads = kind.backward(grad_out, *grad_states, cache)
    assert max_abs_diff(out_fn, out) <= TOL  # the same function is differentiated
    got = [g for g in grads if g is not None]
    assert len(got) == len(expected)  # bias grads are None exactly when there is no bias
    assert (grads.bias_ih is None) == (not bias) and (grads.bias_hh is None) == (not bias)
    assert max_abs_diff(got, list(expected)) <= TOL


@pytest.mark.parametrize("name", KINDS)
def test_backward_with_one_bias_matches_autograd_through_forward(name, seed):
    """bias_ih given, bias_hh None (and the reverse): autograd through the functional forward itself."""
    kind = KINDS[name]
    cell = make_cell(kind, True)
    x = torch.randn(T, B, I, dtype=DT, requires_grad=True)
    states = [s.requires_grad_() for s in random_states(kind)]
    for bias_ih, bias_hh in ((cell.bias_ih, None), (None, cell.bias_hh)):
        args = [x, *states, cell.weight_ih, cell.weight_hh, bias_ih, bias_hh]
        out, state, cache = kind.forward(*args, lengths=LENGTHS)
        grad_out, grad_states = torch.randn_like(out), random_states(kind)
        loss = (out * grad_out).sum() + sum((s * g).sum() for s, g in zip(as_list(state), grad_states))
        wrt = [a for a in args if a is not None]
        expected = torch.autograd.grad(loss, wrt)
        with torch.no_grad():
            grads = kind.backward(grad_out, *grad_states, cache)
        assert [g is None for g in grads] == [a is None for a in args]
        assert max_abs_diff([g for g in grads if g is not None], list(expected)) <= TOL


@pytest.mark.parametrize("name", KINDS)
def test_backward_none_gradients_mean_zero(name, seed):
    kind = KINDS[name]
    cell = make_cell(kind, True)
    x = torch.randn(T, B, I, dtype=DT)
    with torch.no_grad():
        out, _, cache = kind.forward(x, *([None] * kind.num_states), *cell_params(cell), lengths=LENGTHS)
        grad_out = torch.randn_like(out)
        zeros = [torch.zeros(B, H, dtype=DT)] * kind.num_states
        with_none = kind.backward(grad_out, *([None] * kind.num_states), cache)
        with_zeros = kind.backward(grad_out, *zeros, cache)
        only_state = kind.backward(None, *random_states(kind), cache)
    assert max_abs_diff(list(with_none), list(with_zeros)) == 0.0
    assert torch.isfinite(only_state.weight_hh).all() and only_state.weight_hh.abs().sum() > 0


@pytest.mark.parametrize("name", KINDS)
def test_empty_sequence(name):
    kind = KINDS[name]
    cell = make_cell(kind, True)
    x = torch.zeros(0, B, I, dtype=DT)
    states = random_states(kind)
    out, state, cache = kind.forward(x, *states, *cell_params(cell))
    assert out.shape == (0, B, H)
    assert max_abs_diff(as_list(state), states) == 0.0
    grad_states = random_states(kind)
    grads = kind.backward(torch.zeros(0, B, H, dtype=DT), *grad_states, cache)
    assert grads.x.shape == (0, B, I)
    assert max_abs_diff(list(grads[1 : 1 + kind.num_states]), grad_states) == 0.0
    assert torch.all(grads.weight_ih == 0) and torch.all(grads.weight_hh == 0) and torch.all(grads.bias_hh == 0)


# ----------------------------------------------------------------------------------- gradcheck
class HandWritten(torch.autograd.Function):
    """``kind.forward`` as an autograd op whose backward is the hand-written ``kind.backward``."""

    @staticmethod
    def forward(ctx, kind: Kind, lengths, *tensors):
        out, state, cache = kind.forward(*tensors, lengths=lengths)
        ctx.kind, ctx.cache = kind, cache
        return (out, *as_list(state))

    @staticmethod
    def backward(ctx, *grads):
        return (None, None, *ctx.kind.backward(*grads, ctx.cache))


@pytest.mark.parametrize("lengths", [None, torch.tensor([3, 1])], ids=["full", "lengths"])
@pytest.mark.parametrize("name", KINDS)
def test_gradcheck_hand_written_backward(name, lengths, seed):
    kind = KINDS[name]
    t, b, i, h = 3, 2, 2, 3
    cell = make_cell(kind, True, input_size=i, hidden_size=h)
    x = torch.randn(t, b, i, dtype=DT, requires_grad=True)
    states = [s.requires_grad_() for s in random_states(kind, b, h)]
    params = [p.detach().clone().requires_grad_() for p in cell_params(cell)]
    assert torch.autograd.gradcheck(
        lambda *args: HandWritten.apply(kind, lengths, *args), (x, *states, *params), eps=1e-6, atol=1e-8
    )


# ------------------------------------------------------------------------ equation transcriptions
def test_rnn_backward_equals_column_form_transcription(seed):
    """The issue's equations, one sequence at a time, column vectors, transcribed literally."""
    cell = make_cell(KINDS["rnn_tanh"], True)
    W_ax, W_aa, b_a = cell.weight_ih.detach(), cell.weight_hh.detach(), (cell.bias_ih + cell.bias_hh).detach()
    x = torch.randn(T, B, I, dtype=DT)
    a0 = torch.randn(B, H, dtype=DT)
    dy, da_T = torch.randn(T, B, H, dtype=DT), torch.randn(B, H, dtype=DT)
    with torch.no_grad():
        _, _, cache = rnn_forward(x, a0, *cell_params(cell))
        grads = rnn_backward(dy, da_T, cache)
    dW_ax, dW_aa, db_a = torch.zeros_like(W_ax), torch.zeros_like(W_aa), torch.zeros(H, 1, dtype=DT)
    for n in range(B):
        a = [a0[n].reshape(H, 1)]  # forward: a_t = tanh(W_ax x_t + W_aa a_{t-1} + b_a)
        for t in range(T):
            a.append(torch.tanh(W_ax @ x[t, n].reshape(I, 1) + W_aa @ a[t] + b_a.reshape(H, 1)))
        da_next = da_T[n].reshape(H, 1)
        for t in reversed(range(T)):
            da = dy[t, n].reshape(H, 1) + da_next  # vertical + horizontal
            dtanh = da * (1 - a[t + 1] ** 2)
            dW_ax += dtanh @ x[t, n].reshape(I, 1).T
            dW_aa += dtanh @ a[t].T
            db_a += dtanh
            dx_t = W_ax.T @ dtanh
            da_next = W_aa.T @ dtanh
            assert max_abs_diff(dx_t.flatten(), grads.x[t, n]) <= TOL
        assert max_abs_diff(da_next.flatten(), grads.h0[n]) <= TOL
    assert max_abs_diff(dW_ax, grads.weight_ih) <= TOL
    assert max_abs_diff(dW_aa, grads.weight_hh) <= TOL
    assert max_abs_diff(db_a.flatten(), grads.bias_ih) <= TOL
    assert max_abs_diff(db_a.flatten(), grads.bias_hh) <= TOL


def concat_weights(cell: nn.Module, rows: slice) -> tuple[torch.Tensor, torch.Tensor]:
    """``W [h, x] + b`` form of one gate block: W = [W_hh | W_ih] rows, b = b_ih + b_hh."""
    W = torch.cat([cell.weight_hh[rows], cell.weight_ih[rows]], dim=1)  # (H, H + I)
    return W, cell.bias_ih[rows] + cell.bias_hh[rows]


def test_textbook_gru_equals_transcription(seed):
    """GRUCell(reset_after=False) and gru_forward(reset_after=False) against the textbook equations.

    r = σ(W_r [h, x] + b_r)    z = σ(W_z [h, x] + b_z)
    h̃ = tanh(W_c [r*h, x] + b_c)
    h' = (1 - z) * h̃ + z * h       (torch's convention: z weighs the old state)
    """
    cell = make_cell(KINDS["gru_textbook"], True)
    (W_r, b_r), (W_z, b_z), (W_c, b_c) = (concat_weights(cell, slice(k * H, (k + 1) * H)) for k in range(3))
    x = torch.randn(T, B, I, dtype=DT)
    h = h0 = torch.randn(B, H, dtype=DT)
    expected = []
    with torch.no_grad():
        for x_t in x:
            r = torch.sigmoid(torch.cat([h, x_t], 1) @ W_r.T + b_r)
            z = torch.sigmoid(torch.cat([h, x_t], 1) @ W_z.T + b_z)
            h_tilde = torch.tanh(torch.cat([r * h, x_t], 1) @ W_c.T + b_c)
            h = (1 - z) * h_tilde + z * h
            expected.append(h)
        expected = torch.stack(expected)
        out_cell, _ = Recurrent(cell)(x, h0)
        out_fn, h_n, _ = gru_forward(x, h0, *cell_params(cell), reset_after=False)
    assert max_abs_diff(out_cell, expected) <= TOL
    assert max_abs_diff(out_fn, expected) <= TOL
    assert max_abs_diff(h_n, expected[-1]) <= TOL
    # and the two forms really differ: the torch form with the same weights gives another answer
    with torch.no_grad():
        out_torch_form, _, _ = gru_forward(x, h0, *cell_params(cell), reset_after=True)
    assert max_abs_diff(out_torch_form, expected) > 1e-3


def test_simplified_gru_equals_transcription(seed):
    """SimplifiedGRUCell against ``u = σ(W_u[c,x]+b_u); c̃ = tanh(W_c[c,x]+b_c); c = u*c̃ + (1-u)*c``."""
    cell = SimplifiedGRUCell(I, H).to(DT)
    (W_u, b_u), (W_c, b_c) = (concat_weights(cell, slice(k * H, (k + 1) * H)) for k in range(2))
    x = torch.randn(T, B, I, dtype=DT)
    c = c0 = torch.randn(B, H, dtype=DT)
    expected = []
    with torch.no_grad():
        for x_t in x:
            u = torch.sigmoid(torch.cat([c, x_t], 1) @ W_u.T + b_u)
            c_tilde = torch.tanh(torch.cat([c, x_t], 1) @ W_c.T + b_c)
            c = u * c_tilde + (1 - u) * c
            expected.append(c)
        out, c_n = Recurrent(cell)(x, c0)
    assert max_abs_diff(out, torch.stack(expected)) <= TOL
    assert max_abs_diff(c_n, c) <= TOL


# ------------------------------------------------------------------------------------ bad input
def test_errors_name_the_argument():
    cell = make_cell(KINDS["lstm"], True)
    x = torch.randn(T, B, I, dtype=DT)
    p = cell_params(cell)
    with pytest.raises(ValueError, match="weight_hh"):
        lstm_forward(x, None, None, p[0], p[1][:, :-1], p[2], p[3])
    with pytest.raises(ValueError, match="weight_ih"):
        lstm_forward(x, None, None, p[0][:-1], p[1], p[2], p[3])
    with pytest.raises(ValueError, match="bias_hh"):
        lstm_forward(x, None, None, p[0], p[1], p[2], p[3][:-1])
    with pytest.raises(ValueError, match="c0"):
        lstm_forward(x, None, torch.zeros(B + 1, H, dtype=DT), *p)
    with pytest.raises(ValueError, match="x has 2 features"):
        lstm_forward(x[..., :2], None, None, *p)
    with pytest.raises(ValueError, match="lengths"):
        lstm_forward(x, None, None, *p, lengths=torch.tensor([T + 1] * B))
    with pytest.raises(ValueError, match="nonlinearity"):
        rnn_forward(x, None, torch.zeros(H, I, dtype=DT), torch.zeros(H, H, dtype=DT), nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="reset_after"):
        gru_forward(x, None, torch.zeros(3 * H, I, dtype=DT), torch.zeros(3 * H, H, dtype=DT), reset_after=1)
    _, _, cache = lstm_forward(x, None, None, *p)
    with pytest.raises(ValueError, match="grad_c_n"):
        lstm_backward(None, None, torch.zeros(B, H + 1, dtype=DT), cache)


# one entry per functional pair: (forward without its state arguments, backward, gates G, state names)
CHECKED = {
    "rnn": (lambda x, states, *p: rnn_forward(x, *states, *p), rnn_backward, 1, ("h0",)),
    "lstm": (lambda x, states, *p: lstm_forward(x, *states, *p), lstm_backward, 4, ("h0", "c0")),
    "gru": (lambda x, states, *p: gru_forward(x, *states, *p), gru_backward, 3, ("h0",)),
}


@pytest.mark.parametrize("name", list(CHECKED))
def test_every_bad_argument_is_refused_naming_it_and_its_shape(name):
    """Each argument of each forward and backward, wrongly shaped in turn: the whole message, written out
    here (T, B, I, H = 6, 4, 3, 5), names the argument, the shape it must have and the shape it got."""
    forward, backward, G, state_names = CHECKED[name]
    x = torch.randn(T, B, I, dtype=DT)
    params = [torch.randn(G * H, I, dtype=DT), torch.randn(G * H, H, dtype=DT)]
    params += [torch.randn(G * H, dtype=DT), torch.randn(G * H, dtype=DT)]
    states = [None] * len(state_names)

    def refused(message: str, x=x, states=states, params=params) -> None:
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            forward(x, states, *params)

    GH = G * H
    refused(f"weight_hh must be a 2-D tensor ({G}*H, H), got ({GH * H},)", params=[*params[:1], params[1].reshape(-1)])
    refused(f"weight_hh must be a 2-D tensor ({G}*H, H), got list", params=[params[0], [[0.0]], *params[2:]])
    wide = torch.randn(GH, H + 1, dtype=DT)  # then H = 6 and G*H rows do not match
    refused(f"weight_hh must have shape ({G}*H, H), got ({GH}, {H + 1})", params=[params[0], wide, *params[2:]])
    refused(f"weight_ih must have shape ({GH}, input_size), got ({GH - 1}, {I})", params=[params[0][1:], *params[1:]])
    refused(f"weight_ih must have shape ({GH}, input_size), got float", params=[1.0, *params[1:]])
    refused(f"bias_ih must be None or have shape ({GH},), got ({GH - 1},)", params=[*params[:2], params[2][1:], None])
    refused(f"bias_hh must be None or have shape ({GH},), got ({GH}, 1)", params=[*params[:3], params[3][:, None]])
    refused(f"bias_ih must be None or have shape ({GH},), got list", params=[*params[:2], [0.0] * GH, None])
    for i, state_name in enumerate(state_names):
        bad = [None] * len(state_names)
        bad[i] = torch.zeros(B + 1, H, dtype=DT)
        refused(f"{state_name} must be None or have shape ({B}, {H}), got ({B + 1}, {H})", states=bad)
        bad[i] = torch.zeros(B, H).numpy()
        refused(f"{state_name} must be None or have shape ({B}, {H}), got ndarray", states=bad)

    _, _, cache = forward(x, states, *params)
    grad_names = ["grad_outputs", "grad_h_n"] + (["grad_c_n"] if name == "lstm" else [])
    shapes = [(T, B, H), (B, H), (B, H)]
    for i, grad_name in enumerate(grad_names):
        grads: list = [None] * len(grad_names)
        grads[i] = torch.zeros(*shapes[i][:-1], H + 1, dtype=DT)
        message = f"{grad_name} must be None or have shape {shapes[i]}, got {(*shapes[i][:-1], H + 1)}"
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            backward(*grads, cache)
