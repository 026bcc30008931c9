"""Recurrent / Bidirectional / Stacked against torch.nn.RNN/GRU/LSTM (float64), lengths, dropout,
and a cell defined here running through every layer and drop-in module unchanged."""

from __future__ import annotations

import functools

import pytest
import torch
from torch import Tensor
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import seqmodels
from seqmodels.cells import GRUCell, LSTMCell, RecurrentCell, RNNCell
from seqmodels.layers import Bidirectional, Recurrent, Stacked, reverse_padded
from tests.helpers import copy_torch_rnn_weights, max_abs_diff

pytestmark = pytest.mark.usefixtures("seed")

TOL = 1e-10
T, B, I, H = 5, 3, 3, 4
LENGTHS = torch.tensor([3, 5, 1])

# id -> (seqmodels cell factory, torch module class, torch kwargs)
KINDS = {
    "rnn_tanh": (RNNCell, torch.nn.RNN, {}),
    "rnn_relu": (functools.partial(RNNCell, nonlinearity="relu"), torch.nn.RNN, {"nonlinearity": "relu"}),
    "gru": (GRUCell, torch.nn.GRU, {}),
    "lstm": (LSTMCell, torch.nn.LSTM, {}),
}


# ---------------------------------------------------------------------------- helpers
def _torch_module(kind: str, num_layers: int, bidirectional: bool, batch_first: bool, dropout: float = 0.0):
    _, cls, kwargs = KINDS[kind]
    return cls(
        I, H, num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first, dropout=dropout, **kwargs
    ).double()


def _torch_forward(module, x, hx, lengths, batch_first):
    """torch's result, through pack_padded_sequence(enforce_sorted=False) when lengths are given."""
    if lengths is None:
        return module(x, hx)
    packed = pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=False)
    out, h = module(packed, hx)
    out, _ = pad_packed_sequence(out, batch_first=batch_first, total_length=x.shape[1 if batch_first else 0])
    return out, h


def _torch_state(states: list, is_lstm: bool):
    """Stacked's list of L*D cell states -> torch's (L*D, B, H) tensor (or (h, c) pair)."""
    if is_lstm:
        return torch.stack([s[0] for s in states]), torch.stack([s[1] for s in states])
    return torch.stack(states)


def _cell_states(hx, n: int, is_lstm: bool) -> list:
    """torch's hx -> a list of n cell states."""
    return [(hx[0][i], hx[1][i]) for i in range(n)] if is_lstm else [hx[i] for i in range(n)]


def _inputs(batch_first: bool, with_state: bool, num_states: int, is_lstm: bool):
    shape = (B, T, I) if batch_first else (T, B, I)
    x = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    if not with_state:
        return x, None
    parts = [torch.randn(num_states, B, H, dtype=torch.float64, requires_grad=True) for _ in range(2 if is_lstm else 1)]
    return x, (tuple(parts) if is_lstm else parts[0])


def _check_parity(ours_out, ours_state, ref_out, ref_state, cells, ref, leaves):
    """Values, then gradients of input, initial state and every parameter, of a random loss."""
    assert max_abs_diff(ours_out, ref_out) <= TOL
    assert max_abs_diff(ours_state, ref_state) <= TOL
    w_out = torch.randn_like(ref_out)
    flat_ref = ref_state if isinstance(ref_state, tuple) else (ref_state,)
    flat_ours = ours_state if isinstance(ours_state, tuple) else (ours_state,)
    w_state = [torch.randn_like(s) for s in flat_ref]
    loss_ref = (ref_out * w_out).sum() + sum((s * w).sum() for s, w in zip(flat_ref, w_state))
    loss = (ours_out * w_out).sum() + sum((s * w).sum() for s, w in zip(flat_ours, w_state))
    D = 2 if ref.bidirectional else 1
    names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if ref.bias else [])
    ref_params = [getattr(ref, f"{n}_l{k // D}{'_reverse' if k % D else ''}") for k in range(len(cells)) for n in names]
    our_params = [getattr(c, n) for c in cells for n in names]
    g_ref = torch.autograd.grad(loss_ref, leaves + ref_params)
    g = torch.autograd.grad(loss, leaves + our_params)
    for index, (a, b) in enumerate(zip(g, g_ref)):
        assert max_abs_diff(a, b) <= TOL, f"gradient {index} differs"


# ------------------------------------------------------------------- torch parity
@pytest.mark.parametrize("with_state", [False, True], ids=["zero_state", "state"])
@pytest.mark.parametrize("batch_first", [False, True], ids=["time_major", "batch_first"])
@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["full", "lengths"])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_recurrent_matches_torch(kind, lengths, batch_first, with_state):
    ref = _torch_module(kind, 1, False, batch_first)
    layer = Recurrent(KINDS[kind][0](input_size=I, hidden_size=H), batch_first=batch_first).double()
    copy_torch_rnn_weights([layer.cell], ref)
    is_lstm = kind == "lstm"
    x, hx = _inputs(batch_first, with_state, 1, is_lstm)
    ref_out, ref_state = _torch_forward(ref, x, hx, lengths, batch_first)
    out, state = layer(x, None if hx is None else _cell_states(hx, 1, is_lstm)[0], lengths)
    ours_state = _torch_state([state], is_lstm)
    leaves = [x] + ([] if hx is None else list(hx) if is_lstm else [hx])
    _check_parity(out, ours_state, ref_out, ref_state, [layer.cell], ref, leaves)


@pytest.mark.parametrize("with_state", [False, True], ids=["zero_state", "state"])
@pytest.mark.parametrize("batch_first", [False, True], ids=["time_major", "batch_first"])
@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["full", "lengths"])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_bidirectional_matches_torch(kind, lengths, batch_first, with_state):
    ref = _torch_module(kind, 1, True, batch_first)
    factory = KINDS[kind][0]
    layer = Bidirectional(
        factory(input_size=I, hidden_size=H), factory(input_size=I, hidden_size=H), batch_first=batch_first
    ).double()
    cells = [layer.forward_layer.cell, layer.backward_layer.cell]
    copy_torch_rnn_weights(cells, ref)
    is_lstm = kind == "lstm"
    x, hx = _inputs(batch_first, with_state, 2, is_lstm)
    ref_out, ref_state = _torch_forward(ref, x, hx, lengths, batch_first)
    out, (state_f, state_b) = layer(x, None if hx is None else tuple(_cell_states(hx, 2, is_lstm)), lengths)
    leaves = [x] + ([] if hx is None else list(hx) if is_lstm else [hx])
    _check_parity(out, _torch_state([state_f, state_b], is_lstm), ref_out, ref_state, cells, ref, leaves)


@pytest.mark.parametrize("with_state", [False, True], ids=["zero_state", "state"])
@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["full", "lengths"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("num_layers", [2, 3])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_stacked_matches_torch(kind, num_layers, bidirectional, lengths, with_state):
    batch_first = num_layers == 3  # both layouts covered without doubling the grid
    ref = _torch_module(kind, num_layers, bidirectional, batch_first)
    stack = Stacked(KINDS[kind][0], I, H, num_layers, bidirectional, batch_first=batch_first).double()
    copy_torch_rnn_weights(stack.cells(), ref)
    n = num_layers * (2 if bidirectional else 1)
    is_lstm = kind == "lstm"
    x, hx = _inputs(batch_first, with_state, n, is_lstm)
    ref_out, ref_state = _torch_forward(ref, x, hx, lengths, batch_first)
    out, states = stack(x, None if hx is None else _cell_states(hx, n, is_lstm), lengths)
    assert len(states) == n and stack.output_size == out.shape[-1]
    leaves = [x] + ([] if hx is None else list(hx) if is_lstm else [hx])
    _check_parity(out, _torch_state(states, is_lstm), ref_out, ref_state, stack.cells(), ref, leaves)


# ------------------------------------------------------------------ lengths, reversal
def _layers_of_every_kind(kind):
    factory = KINDS[kind][0]
    return {
        "recurrent": Recurrent(factory(input_size=I, hidden_size=H)),
        "bidirectional": Bidirectional(factory(input_size=I, hidden_size=H), factory(input_size=I, hidden_size=H)),
        "stacked": Stacked(factory, I, H, num_layers=2, bidirectional=True),
    }


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_outputs_past_the_end_are_zero(kind):
    x = torch.randn(T, B, I, dtype=torch.float64)
    for name, layer in _layers_of_every_kind(kind).items():
        out, _ = layer.double()(x, lengths=LENGTHS)
        for b, length in enumerate(LENGTHS.tolist()):
            assert not out[length:, b].any(), name
            alone, _ = layer(x[:length, b : b + 1])  # the sequence by itself, no padding
            assert max_abs_diff(out[:length, b : b + 1], alone) <= TOL, name


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_padding_values_do_not_matter(kind):
    x = torch.randn(T, B, I, dtype=torch.float64)
    noisy = x.clone()
    for b, length in enumerate(LENGTHS.tolist()):
        noisy[length:, b] = 1e3 * torch.randn(T - length, I, dtype=torch.float64)
    for name, layer in _layers_of_every_kind(kind).items():
        layer = layer.double()
        assert max_abs_diff(layer(x, lengths=LENGTHS), layer(noisy, lengths=LENGTHS)) == 0.0, name


def test_reverse_padded_example_and_involution():
    x = torch.arange(1.0, 13.0).view(4, 3, 1)  # (T=4, B=3, 1)
    lengths = torch.tensor([4, 2, 1])
    r = reverse_padded(x, lengths)
    assert r[:, 0, 0].tolist() == [10.0, 7.0, 4.0, 1.0]
    assert r[:, 1, 0].tolist() == [5.0, 2.0, 8.0, 11.0]  # first 2 reversed, padding in place
    assert r[:, 2, 0].tolist() == [3.0, 6.0, 9.0, 12.0]
    assert torch.equal(reverse_padded(x, None), x.flip(0))
    y = torch.randn(7, 5, 2, 3)
    lengths = torch.tensor([7, 1, 4, 6, 2])
    assert torch.equal(reverse_padded(reverse_padded(y, lengths), lengths), y)
    assert torch.equal(reverse_padded(reverse_padded(y, None), None), y)


@pytest.mark.parametrize(
    "lengths,match",
    [
        (torch.tensor([3, 5]), r"lengths must have shape \(3,\), got \(2,\)"),
        (torch.tensor([[3, 5, 1]]), r"lengths must have shape \(3,\), got \(1, 3\)"),
        (torch.tensor([3, 0, 1]), r"lengths must lie in \[1, 5\].*min 0"),
        (torch.tensor([3, 6, 1]), r"lengths must lie in \[1, 5\].*max 6"),
        (torch.tensor([3.0, 5.0, 1.0]), r"lengths must be integers"),
    ],
)
def test_layers_reject_bad_lengths(lengths, match):
    x = torch.randn(T, B, I)
    for layer in _layers_of_every_kind("gru").values():
        with pytest.raises(ValueError, match=match):
            layer(x, lengths=lengths)


@pytest.mark.parametrize(
    "shape,match", [((T, I), "must be 3-D"), ((T, B, I + 1), "has 4 features, expected input_size=3")]
)
def test_layers_reject_bad_input(shape, match):
    for layer in _layers_of_every_kind("lstm").values():
        with pytest.raises(ValueError, match=match):
            layer(torch.randn(*shape))


def test_stacked_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"num_layers must be a positive integer, got 0"):
        Stacked(LSTMCell, I, H, num_layers=0)
    with pytest.raises(ValueError, match=r"hidden_size must be a positive integer, got 0"):
        Stacked(LSTMCell, I, 0)
    with pytest.raises(ValueError, match=r"dropout must be a number in \[0, 1\), got 1.0"):
        Stacked(LSTMCell, I, H, num_layers=2, dropout=1.0)
    with pytest.raises(ValueError, match=r"state must hold num_layers\*num_directions=4 states, got 2"):
        Stacked(GRUCell, I, H, num_layers=2, bidirectional=True)(torch.randn(T, B, I), [torch.zeros(B, H)] * 2)
    with pytest.raises(ValueError, match=r"cell must be a seqmodels RecurrentCell, got Linear"):
        Recurrent(torch.nn.Linear(2, 2))


# -------------------------------------------------------------------------- dropout
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
def test_dropout_is_inactive_in_eval(bidirectional):
    with_dropout = Stacked(LSTMCell, I, H, num_layers=3, bidirectional=bidirectional, dropout=0.5).double()
    without = Stacked(LSTMCell, I, H, num_layers=3, bidirectional=bidirectional).double()
    without.load_state_dict(with_dropout.state_dict(), strict=True)
    x = torch.randn(T, B, I, dtype=torch.float64)
    with_dropout.eval()
    assert max_abs_diff(with_dropout(x, lengths=LENGTHS), without(x, lengths=LENGTHS)) == 0.0
    with_dropout.train()
    assert max_abs_diff(with_dropout(x)[0], without(x)[0]) > 1e-3


@pytest.mark.parametrize("backend", ["custom", "torch"])
@pytest.mark.parametrize("num_layers", [1, 2, 3])
def test_dropout_between_layers_only(num_layers, backend, monkeypatch):
    """Dropout runs once per layer boundary, on layer outputs, never on the input or the last output."""
    stack = Stacked(GRUCell, I, H, num_layers=num_layers, dropout=0.25, backend=backend).double().train()
    seen = []
    real_dropout = seqmodels.kernels.dropout.dropout

    def spy(x, p, training, *args, **kwargs):
        seen.append((x, p, training))
        return real_dropout(x, p, training, *args, **kwargs)

    monkeypatch.setattr(seqmodels.layers.stacked, "dropout", spy)
    monkeypatch.setattr(seqmodels.layers.backends, "hashed_dropout", spy)
    x = torch.randn(T, B, I, dtype=torch.float64)
    out, _ = stack(x)
    assert len(seen) == num_layers - 1
    assert all(p == 0.25 and training for _, p, training in seen)
    assert all(t.shape == (T, B, H) and t is not x and t is not out for t, _, _ in seen)


def _layer_by_layer_replay(kind: str, ref, x: Tensor, p: float, seed: int) -> Tensor:
    """torch's one-layer modules, with ref's weights, chained by hand with our dropout between them (the
    masks' keys drawn after ``torch.manual_seed(seed)``)."""
    _, cls, kwargs = KINDS[kind]
    layers = []
    for layer in range(ref.num_layers):
        size = I if layer == 0 else ref.hidden_size * (2 if ref.bidirectional else 1)
        one = cls(size, H, num_layers=1, bidirectional=ref.bidirectional, **kwargs).double()
        names = [name for name, _ in one.named_parameters()]
        one.load_state_dict({n: getattr(ref, n.replace("_l0", f"_l{layer}")) for n in names}, strict=True)
        layers.append(one)
    torch.manual_seed(seed)
    out = x
    for index, one in enumerate(layers):
        if index > 0:
            out = seqmodels.kernels.dropout.dropout(out, p, True)
        out, _ = one(out)
    return out


@pytest.mark.parametrize("backend", ["custom", "torch"])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_dropout_in_training_is_the_hashed_mask_between_torch_layers(kind, backend):
    """In training on CPU the dropout between layers is seqmodels.kernels.dropout (masks hashed from keys
    drawn from the global generator, in layer order): with the same seed both backends equal torch's
    one-layer modules chained by hand with that dropout; another seed gives other masks."""
    ref = _torch_module(kind, 3, True, False)
    stack = Stacked(KINDS[kind][0], I, H, num_layers=3, bidirectional=True, dropout=0.5, backend=backend)
    stack = stack.double().train()
    copy_torch_rnn_weights(stack.cells(), ref)
    x = torch.randn(T, B, I, dtype=torch.float64)
    replay = _layer_by_layer_replay(kind, ref, x, 0.5, seed=11)
    torch.manual_seed(11)
    out, _ = stack(x)
    assert max_abs_diff(out, replay) <= TOL
    torch.manual_seed(12)
    assert max_abs_diff(stack(x)[0], replay) > 1e-3  # another seed, other masks


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_dropout_in_training_equals_torch_with_same_seed_when_native_is_off(kind, monkeypatch):
    """With SEQMODELS_NATIVE=0 the dropout is torch's own: the same seed gives torch's masks exactly."""
    monkeypatch.setenv(seqmodels.kernels.loader.ENV_SWITCH, "0")
    ref = _torch_module(kind, 3, True, False, dropout=0.5).train()
    stack = Stacked(KINDS[kind][0], I, H, num_layers=3, bidirectional=True, dropout=0.5).double().train()
    copy_torch_rnn_weights(stack.cells(), ref)
    x = torch.randn(T, B, I, dtype=torch.float64)
    torch.manual_seed(11)
    ref_out, _ = ref(x)
    torch.manual_seed(11)
    out, _ = stack(x)
    assert max_abs_diff(out, ref_out) <= TOL


@pytest.mark.parametrize("cell", [LSTMCell, GRUCell], ids=["lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["full", "lengths"])
def test_the_torch_backends_layer_by_layer_run_equals_its_single_call(cell, bidirectional, lengths, monkeypatch):
    """With dropout in training the torch backend runs one kernel call per layer (slicing the states and
    weights, joining the final states): with the dropout made the identity, outputs, final states and every
    gradient equal the whole stack's single call without dropout."""
    stack = Stacked(cell, I, H, num_layers=3, bidirectional=bidirectional, dropout=0.5, backend="torch").double()
    stack.train()
    x = torch.randn(T, B, I, dtype=torch.float64, requires_grad=True)
    state = [
        tuple(torch.randn_like(t).requires_grad_() for t in s) if isinstance(s, tuple) else torch.randn_like(s)
        for s in stack.init_state(B, dtype=torch.float64)
    ]
    state = [s if isinstance(s, tuple) else s.requires_grad_() for s in state]
    leaves = [t for s in state for t in (s if isinstance(s, tuple) else (s,))]
    calls = []
    monkeypatch.setattr(seqmodels.layers.backends, "hashed_dropout", lambda data, p, training: calls.append(p) or data)
    results = []
    for p in (0.5, 0.0):
        stack.dropout = p
        out, final = stack(x, state, lengths=lengths)
        finals = [t for s in final for t in (s if isinstance(s, tuple) else (s,))]
        loss = out.pow(2).sum() + sum(f.pow(2).sum() for f in finals)
        results.append([out, *finals, *torch.autograd.grad(loss, [x, *leaves, *stack.parameters()])])
    assert calls == [0.5, 0.5]  # the layer-by-layer path ran, once per layer boundary
    for split, whole in zip(*results):
        assert max_abs_diff(split, whole) <= TOL


# --------------------------------------------------------------------- a new cell
class MinimalGatedCell(RecurrentCell):
    """Minimal gated unit (Zhou et al. 2016), written only against the cell contract::

    f = σ(W_f x + U_f h + b_f),   h̃ = tanh(W_h x + U_h (f * h) + b_h),   h' = (1 - f) h + f h̃
    """

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size, bias=True, num_gates=2)

    def step(self, x_proj: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        x_f, x_h = x_proj.split(self.hidden_size, dim=-1)
        u_f, u_h = self.weight_hh.split(self.hidden_size, dim=0)
        b_f, b_h = self.bias_hh.split(self.hidden_size)
        f = torch.sigmoid(x_f + state @ u_f.T + b_f)
        h_tilde = torch.tanh(x_h + (f * state) @ u_h.T + b_h)
        h = (1 - f) * state + f * h_tilde
        return h, h


class CountingCell(RecurrentCell):
    """A tanh RNN whose state also counts its steps: state ``(h (B, H), n (B, 1))``."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size, bias=True, num_gates=1)

    @property
    def state_size(self) -> tuple[int, int]:
        return (self.hidden_size, 1)

    def step(self, x_proj: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        h, n = state
        h = torch.tanh(x_proj + self.hidden_projection(h))
        return h, (h, n + 1)


def _reference_unroll(cell, xs: Tensor, state):
    """Plain per-step loop of one sequence xs (T_b, I): outputs (T_b, H) and the final state."""
    outs = []
    for x_t in xs:
        h, state = cell(x_t[None], state)
        outs.append(h[0])
    return torch.stack(outs), state


def _reference_stack(cells, num_layers, D, x: Tensor, lengths: list[int]):
    """Each sequence alone, truncated to its length; the reverse direction on the flipped sequence."""
    outputs, finals = torch.zeros(x.shape[0], x.shape[1], D * H, dtype=x.dtype), []
    for b, length in enumerate(lengths):
        inp, seq_finals = x[:length, b], []
        for layer in range(num_layers):
            outs = []
            for d in range(D):
                cell = cells[layer * D + d]
                seq = inp.flip(0) if d else inp
                out, state = _reference_unroll(cell, seq, cell.init_state(1, dtype=x.dtype))
                outs.append(out.flip(0) if d else out)
                seq_finals.append(state)
            inp = torch.cat(outs, dim=-1)
        outputs[:length, b] = inp
        finals.append(seq_finals)
    return outputs, finals


@pytest.mark.parametrize("cell_cls", [MinimalGatedCell, CountingCell])
def test_custom_cell_runs_in_every_layer_with_lengths(cell_cls):
    x = torch.randn(T, B, I, dtype=torch.float64)
    lens = LENGTHS.tolist()
    layers = {
        "recurrent": (Recurrent(cell_cls(I, H)), 1, 1),
        "bidirectional": (Bidirectional(cell_cls(I, H), cell_cls(I, H)), 1, 2),
        "stacked": (Stacked(cell_cls, I, H, num_layers=2, bidirectional=True), 2, 2),
    }
    for name, (layer, num_layers, D) in layers.items():
        layer = layer.double()
        cells = (
            layer.cells()
            if isinstance(layer, Stacked)
            else (
                [layer.cell] if isinstance(layer, Recurrent) else [layer.forward_layer.cell, layer.backward_layer.cell]
            )
        )
        out, state = layer(x, lengths=LENGTHS)
        ref_out, ref_finals = _reference_stack(cells, num_layers, D, x, lens)
        assert max_abs_diff(out, ref_out) <= TOL, name
        flat = [state] if isinstance(layer, Recurrent) else list(state)
        for k, s in enumerate(flat):
            for b in range(B):
                expected = ref_finals[b][k]
                got = tuple(t[b : b + 1] for t in s) if isinstance(s, tuple) else s[b : b + 1]
                assert max_abs_diff(got, expected) <= TOL, (name, k, b)
                if cell_cls is CountingCell:  # the state froze after the last real step
                    assert got[1].item() == lens[b]


@pytest.mark.parametrize("module_cls", [seqmodels.RNN, seqmodels.GRU, seqmodels.LSTM])
@pytest.mark.parametrize("batch_first", [False, True], ids=["time_major", "batch_first"])
def test_custom_cell_in_drop_in_modules(module_cls, batch_first):
    net = module_cls(I, H, num_layers=2, bidirectional=True, batch_first=batch_first, cell=MinimalGatedCell).double()
    assert all(type(c) is MinimalGatedCell for c in net.cells())
    x = torch.randn(T, B, I, dtype=torch.float64)
    out, h_n = net(x.transpose(0, 1) if batch_first else x, lengths=LENGTHS)
    if batch_first:
        out = out.transpose(0, 1)
    ref_out, ref_finals = _reference_stack(net.cells(), 2, 2, x, LENGTHS.tolist())
    assert max_abs_diff(out, ref_out) <= TOL
    assert h_n.shape == (4, B, H)
    expected = torch.cat([torch.stack([f for f in ref_finals[b]]) for b in range(B)], dim=1)  # (4, B, H)
    assert max_abs_diff(h_n, expected) <= TOL


def test_tuple_state_cell_in_drop_in_module_gives_stacked_tuple():
    net = seqmodels.RNN(I, H, num_layers=3, bidirectional=True, cell=CountingCell).double()
    x = torch.randn(T, B, I, dtype=torch.float64)
    out, (h_n, n_n) = net(x, lengths=LENGTHS)
    assert h_n.shape == (6, B, H) and n_n.shape == (6, B, 1)
    assert torch.equal(n_n[..., 0], LENGTHS.double().expand(6, B))
    assert max_abs_diff(h_n[-2], out[LENGTHS - 1, torch.arange(B), :H]) <= TOL  # last layer, forward
    assert max_abs_diff(h_n[-1], out[0, :, H:]) <= TOL  # last layer, reverse ends at t = 0
    hx = (torch.zeros(6, B, H, dtype=torch.float64), torch.full((6, B, 1), 10.0, dtype=torch.float64))
    _, (_, n_n) = net(x, hx, lengths=LENGTHS)
    assert torch.equal(n_n[..., 0], 10 + LENGTHS.double().expand(6, B))
    with pytest.raises(ValueError, match=r"hx\[1\] must have shape \(6, 3, 1\), got \(6, 3, 4\)"):
        net(x, (hx[0], hx[0]))
    with pytest.raises(ValueError, match=r"hx must be a tuple of 2 tensors, got Tensor"):
        net(x, hx[0])


@pytest.mark.parametrize("backend", ["custom", "torch"])
def test_initial_states_of_another_dtype_device_or_batch_are_refused_by_name(backend):
    x = torch.randn(2, 5, 3, dtype=torch.float64)  # (B, T, I)
    layer = Stacked(LSTMCell, 3, 4, num_layers=2, batch_first=True, backend=backend).double()
    good = [(torch.zeros(2, 4, dtype=torch.float64), torch.zeros(2, 4, dtype=torch.float64)) for _ in range(2)]
    layer(x, good)  # the right ones pass
    wrong_dtype = [good[0], (good[1][0], good[1][1].float())]
    with pytest.raises(ValueError, match=r"^state\[1\]\[1\] is torch\.float32 on cpu but the input is torch\.float64"):
        layer(x, wrong_dtype)
    wrong_batch = [(torch.zeros(3, 4, dtype=torch.float64), good[0][1]), good[1]]
    with pytest.raises(ValueError, match=r"^state\[0\]\[0\] has shape \(3, 4\), expected 2 rows"):
        layer(x, wrong_batch)
    gru = Recurrent(GRUCell(3, 4), batch_first=True).double()
    with pytest.raises(ValueError, match=r"^state\[0\] is torch\.float32"):
        gru(x, torch.zeros(2, 4))
