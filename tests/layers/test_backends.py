"""Every backend gives torch's numbers: ``custom`` (fused Functions and the generic loop) and ``torch``.

These check numbers, never speed (``seqmodels-bench`` measures speed).
"""

from __future__ import annotations

import itertools

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import seqmodels
from seqmodels.cells import GRUCell, LSTMCell, PeepholeLSTMCell, RNNCell
from seqmodels.functional import gru_backward, gru_forward, lstm_backward, lstm_forward, rnn_backward, rnn_forward
from seqmodels.kernels import gru_sequence, lstm_sequence, rnn_sequence
from seqmodels.layers import Bidirectional, Recurrent, Stacked
from seqmodels.layers.backends import auto_uses_torch, fused_sequence
from seqmodels.utils.checks import step_mask
from tests.helpers import max_abs_diff

T, B, I, H = 6, 4, 5, 7
LENGTHS = torch.tensor([6, 2, 5, 1])
KINDS = {
    "rnn_tanh": (torch.nn.RNN, lambda **kw: seqmodels.RNN(**kw), {}),
    "rnn_relu": (torch.nn.RNN, lambda **kw: seqmodels.RNN(nonlinearity="relu", **kw), {"nonlinearity": "relu"}),
    "gru": (torch.nn.GRU, lambda **kw: seqmodels.GRU(**kw), {}),
    "lstm": (torch.nn.LSTM, lambda **kw: seqmodels.LSTM(**kw), {}),
}


def run_torch(module, x, hx, lengths):
    if lengths is None:
        return module(x, hx)
    packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
    out, state = module(packed, hx)
    return pad_packed_sequence(out, total_length=x.shape[0])[0], state


def random_hx(kind, layers, directions, dtype):
    shape = (layers * directions, B, H)
    if kind == "lstm":
        return (
            torch.randn(shape, dtype=dtype, requires_grad=True),
            torch.randn(shape, dtype=dtype, requires_grad=True),
        )
    return torch.randn(shape, dtype=dtype, requires_grad=True)


def leaves(hx):
    return list(hx) if isinstance(hx, tuple) else [hx]


@pytest.mark.parametrize("backend", ["custom", "torch", "auto"])
@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("bidirectional,use_lengths,with_hx", list(itertools.product([False, True], repeat=3)))
def test_backend_matches_torch_float64(backend, kind, bidirectional, use_lengths, with_hx):
    torch.manual_seed(0)
    torch_cls, make, extra = KINDS[kind]
    reference = torch_cls(I, H, num_layers=2, bidirectional=bidirectional, dtype=torch.float64, **extra)
    ours = type(make(input_size=I, hidden_size=H)).from_torch(reference)
    ours.backend = backend
    x = torch.randn(T, B, I, dtype=torch.float64, requires_grad=True)
    hx = random_hx(kind, 2, 2 if bidirectional else 1, torch.float64) if with_hx else None
    lengths = LENGTHS if use_lengths else None
    out_ref, state_ref = run_torch(reference, x, hx, lengths)
    out, state = ours(x, hx, lengths=lengths)
    assert max_abs_diff(out, out_ref) <= 1e-10
    assert max_abs_diff(state, state_ref) <= 1e-10
    weights = torch.randn_like(out)
    inputs = [x] + (leaves(hx) if hx is not None else [])
    loss_ref = (out_ref * weights).sum() + sum(s.sum() for s in leaves(state_ref))
    loss = (out * weights).sum() + sum(s.sum() for s in leaves(state))
    grads_ref = torch.autograd.grad(loss_ref, inputs + list(reference.parameters()))
    grads = torch.autograd.grad(loss, inputs + [getattr(ours, n) for n, _ in reference.named_parameters()])
    assert max_abs_diff(list(grads), list(grads_ref)) <= 1e-10


@pytest.mark.parametrize("backend", ["custom", "torch"])
@pytest.mark.parametrize("kind", ["gru", "lstm", "rnn_tanh"])
def test_backend_float32_relative(backend, kind):
    torch.manual_seed(0)
    torch_cls, make, extra = KINDS[kind]
    reference = torch_cls(I, H, num_layers=2, **extra)
    ours = type(make(input_size=I, hidden_size=H)).from_torch(reference)
    ours.backend = backend
    x = torch.randn(T, B, I, requires_grad=True)
    out_ref, _ = run_torch(reference, x, None, LENGTHS)
    out, _ = ours(x, lengths=LENGTHS)
    assert max_abs_diff(out, out_ref) <= 1e-5 * max(1.0, out_ref.abs().max().item())
    g_ref = torch.autograd.grad(out_ref.square().sum(), list(reference.parameters()))
    g = torch.autograd.grad(out.square().sum(), [getattr(ours, n) for n, _ in reference.named_parameters()])
    for a, b in zip(g, g_ref):
        assert (a - b).abs().max().item() <= 1e-5 * max(1.0, b.abs().max().item())


@pytest.mark.parametrize("cell_cls", [LSTMCell, GRUCell, RNNCell])
def test_fused_equals_generic_loop(cell_cls):
    """A subclass that changes nothing runs the generic step loop: it must equal the fused Function."""
    torch.manual_seed(0)
    generic_cls = type("Generic" + cell_cls.__name__, (cell_cls,), {})
    fast, slow = cell_cls(I, H).double(), generic_cls(I, H).double()
    slow.load_state_dict(fast.state_dict())
    assert fused_sequence(fast) is not None and fused_sequence(slow) is None
    x = torch.randn(T, B, I, dtype=torch.float64, requires_grad=True)
    for lengths in (None, LENGTHS):
        out_f, state_f = Recurrent(fast, backend="custom")(x, lengths=lengths)
        out_s, state_s = Recurrent(slow, backend="custom")(x, lengths=lengths)
        assert max_abs_diff(out_f, out_s) <= 1e-12 and max_abs_diff(state_f, state_s) <= 1e-12
        g_f = torch.autograd.grad(out_f.sum(), [x, *fast.parameters()])
        g_s = torch.autograd.grad(out_s.sum(), [x, *slow.parameters()])
        assert max_abs_diff(list(g_f), list(g_s)) <= 1e-12


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn_tanh", "rnn_relu"])
@pytest.mark.parametrize("use_lengths", [False, True])
def test_fused_backward_equals_reference_bptt(kind, use_lengths):
    """The fused Function's backward equals the readable reference in seqmodels.functional."""
    torch.manual_seed(0)
    lengths = LENGTHS if use_lengths else None
    mask = None if lengths is None else step_mask(lengths, T)
    cell = (
        LSTMCell(I, H)
        if kind == "lstm"
        else GRUCell(I, H)
        if kind == "gru"
        else RNNCell(I, H, nonlinearity=kind.split("_")[1])
    )
    cell = cell.double()
    w = [p.detach().requires_grad_() for p in cell.parameters()]
    x = torch.randn(T, B, I, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(B, H, dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(B, H, dtype=torch.float64, requires_grad=True)
    d_out = torch.randn(T, B, H, dtype=torch.float64)
    d_h = torch.randn(B, H, dtype=torch.float64)
    d_c = torch.randn(B, H, dtype=torch.float64)
    if kind == "lstm":
        out, (h, c) = lstm_sequence(x, h0, c0, *w, mask)
        grads = torch.autograd.grad((out * d_out).sum() + (h * d_h).sum() + (c * d_c).sum(), [x, h0, c0, *w])
        _, _, cache = lstm_forward(x, h0, c0, *w, lengths=lengths)
        reference = lstm_backward(d_out, d_h, d_c, cache)
    elif kind == "gru":
        out, h = gru_sequence(x, h0, *w, mask)
        grads = torch.autograd.grad((out * d_out).sum() + (h * d_h).sum(), [x, h0, *w])
        _, _, cache = gru_forward(x, h0, *w, lengths=lengths)
        reference = gru_backward(d_out, d_h, cache)
    else:
        nonlinearity = kind.split("_")[1]
        out, h = rnn_sequence(x, h0, *w, mask, nonlinearity=nonlinearity)
        grads = torch.autograd.grad((out * d_out).sum() + (h * d_h).sum(), [x, h0, *w])
        _, _, cache = rnn_forward(x, h0, *w, lengths=lengths, nonlinearity=nonlinearity)
        reference = rnn_backward(d_out, d_h, cache)
    assert max_abs_diff(list(grads), list(reference)) <= 1e-10


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn_tanh"])
def test_fused_gradcheck(kind):
    torch.manual_seed(0)
    torch_cls, make, extra = KINDS[kind]
    net = make(input_size=3, hidden_size=4, num_layers=2, bidirectional=True, backend="custom").double()
    x = torch.randn(5, 3, 3, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([5, 1, 3])
    assert torch.autograd.gradcheck(lambda inp: net(inp, lengths=lengths)[0], (x,))


def test_torch_backend_refuses_what_torch_cannot_run():
    x = torch.randn(T, B, I)
    with pytest.raises(ValueError, match="reset_after"):
        seqmodels.GRU(I, H, reset_after=False, backend="torch")(x)
    with pytest.raises(ValueError, match="PeepholeLSTMCell"):
        Stacked(PeepholeLSTMCell, I, H, backend="torch")(x)
    with pytest.raises(ValueError, match="backend must be one of"):
        seqmodels.LSTM(I, H, backend="cudnn")
    with pytest.raises(ValueError, match="backend must be one of"):
        Recurrent(LSTMCell(I, H), backend="fast")


def test_auto_falls_back_to_custom_for_other_cells():
    """auto never errors: cells torch cannot run go through our recurrence."""
    torch.manual_seed(0)
    net = seqmodels.GRU(I, H, reset_after=False, num_layers=2, bidirectional=True)
    out, h_n = net(torch.randn(T, B, I), lengths=LENGTHS)
    assert out.shape == (T, B, 2 * H) and h_n.shape == (4, B, H)


@pytest.mark.parametrize("native_kernels", [True, False], ids=["native", "no-native"])
def test_auto_policy(monkeypatch, native_kernels):
    monkeypatch.setattr("seqmodels.layers.backends.native.kernels", lambda *t: object() if native_kernels else None)
    lstm, gru, rnn = LSTMCell(3, 4), GRUCell(3, 4), RNNCell(3, 4)
    x32, x64, x_big = torch.randn(2, 1, 3), torch.randn(2, 1, 3, dtype=torch.float64), torch.randn(5, 64, 3)
    short = torch.full((64,), 5).index_fill(0, torch.tensor([3]), 2)  # one sequence shorter than T
    full = torch.full((64,), 5)
    # never torch's kernel: RNN, float64, cells torch cannot run
    assert not auto_uses_torch([rnn], x_big)
    assert not auto_uses_torch([LSTMCell(3, 4).double()], x64)
    assert not auto_uses_torch([PeepholeLSTMCell(3, 4)], x32)
    # evaluation / generation (no autograd): oneDNN for LSTM; GRU on ours with the C kernels, else on ATen's
    # from batch 48 on
    with torch.no_grad():
        assert auto_uses_torch([lstm], x32) and auto_uses_torch([lstm], x_big, short)
        assert not auto_uses_torch([gru], x32)
        assert auto_uses_torch([gru], x_big) is (not native_kernels)
        assert auto_uses_torch([gru], x_big, short) is (not native_kernels)
    # training: a batch with shorter sequences always runs on ours (torch's packed backward is far slower);
    # at full length ours with the C kernels (LSTM from B·H = 8192 on), else torch's as in evaluation
    assert not auto_uses_torch([lstm], x_big, short) and not auto_uses_torch([gru], x_big, short)
    assert auto_uses_torch([lstm], x_big, full) is True  # B·H = 256: oneDNN with or without kernels
    assert auto_uses_torch([lstm], x32) is True
    wide = torch.randn(5, 64, 3)
    big_lstm = LSTMCell(3, 128)  # B·H = 8192: ours with the C kernels
    assert auto_uses_torch([big_lstm], wide) is (not native_kernels)
    assert auto_uses_torch([big_lstm], wide, full) is (not native_kernels)
    assert auto_uses_torch([gru], x_big) is (not native_kernels)
    assert not auto_uses_torch([gru], x32)
    frozen = LSTMCell(3, 4).requires_grad_(False)  # nothing to differentiate: evaluated like inference
    assert auto_uses_torch([frozen], x_big, short)


def test_torch_backend_with_full_lengths_equals_no_lengths():
    """Lengths that are all T skip packing on the torch backend: same numbers as without lengths."""
    torch.manual_seed(0)
    for net in (
        seqmodels.GRU(I, H, num_layers=2, bidirectional=True, backend="torch").double(),
        seqmodels.LSTM(I, H, backend="torch").double(),
    ):
        x = torch.randn(T, B, I, dtype=torch.float64)
        out, state = net(x)
        out_full, state_full = net(x, lengths=torch.full((B,), T))
        assert torch.equal(out, out_full)
        for a, b in zip(
            state if isinstance(state, tuple) else (state,),
            state_full if isinstance(state_full, tuple) else (state_full,),
        ):
            assert torch.equal(a, b)


@pytest.mark.parametrize("layer_backend", ["custom", "torch"])
def test_layers_take_backend(layer_backend):
    """Recurrent and Bidirectional on either backend equal the 1-layer torch module."""
    torch.manual_seed(0)
    reference = torch.nn.LSTM(I, H, bidirectional=True, dtype=torch.float64)
    net = seqmodels.LSTM.from_torch(reference)
    fwd_cell, bwd_cell = net.cells()
    x = torch.randn(T, B, I, dtype=torch.float64)
    out_ref, (h_ref, c_ref) = run_torch(reference, x, None, LENGTHS)
    out, (state_f, state_b) = Bidirectional(fwd_cell, bwd_cell, backend=layer_backend)(x, lengths=LENGTHS)
    assert max_abs_diff(out, out_ref) <= 1e-10
    assert max_abs_diff([state_f[0], state_b[0]], list(h_ref.unbind(0))) <= 1e-10
    out_f, (h_f, _) = Recurrent(fwd_cell, backend=layer_backend)(x, lengths=LENGTHS)
    assert max_abs_diff(out_f, out_ref[..., :H]) <= 1e-10 and max_abs_diff(h_f, h_ref[0]) <= 1e-10


def test_stacked_step_equals_forward():
    """Stepping token by token gives the same outputs and states as one forward over the sequence."""
    torch.manual_seed(0)
    stack = Stacked(LSTMCell, I, H, num_layers=2).double()
    x = torch.randn(T, B, I, dtype=torch.float64)
    out, final = stack(x)
    state, steps = None, []
    with torch.inference_mode():
        for x_t in x.unbind(0):
            h, state = stack.step(x_t, state)
            steps.append(h)
    assert max_abs_diff(torch.stack(steps), out) <= 1e-12
    assert max_abs_diff(state, final) <= 1e-12
    with pytest.raises(ValueError, match="bidirectional"):
        Stacked(LSTMCell, I, H, bidirectional=True).step(x[0])


def test_a_batch_with_lengths_under_torch_compile_gives_the_eager_numbers():
    """With ``backend="torch"``: torch's kernels need a packed batch, which torch.compile cannot trace; the layer
    then runs ``custom``'s masked loop. The oracle is the same layer uncompiled (checked against torch.nn above): outputs, final states
    and every gradient, float64. (Treating the batch as full length, as the layers once did under compile, ran
    the padded steps too: 0.37 off at the outputs.)"""
    torch.manual_seed(0)
    layer = seqmodels.LSTM(I, H, num_layers=2, bidirectional=True, backend="torch").double()
    x = torch.randn(T, B, I, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([2, 6, 1, 5])

    def run(module):
        out, (h, c) = module(x, lengths=lengths)
        loss = out.square().sum() + h.sum() + c.sum()
        grads = torch.autograd.grad(loss, [x, *layer.parameters()])
        return out.detach(), h.detach(), c.detach(), grads

    torch._dynamo.reset()
    expected, compiled = run(layer), run(torch.compile(layer, backend="eager"))
    for want, got in zip([*expected[:3], *expected[3]], [*compiled[:3], *compiled[3]]):
        assert max_abs_diff(got, want) < 1e-12
