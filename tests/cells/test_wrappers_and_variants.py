"""LayerNorm LSTM/GRU cells and the regularising wrappers (zoneout, variational dropout, weight drop).

Oracles: direct transcriptions of each paper's equations in float64 (layer norm written out as
mean/variance, masks read back from the wrappers), the plain cell in eval mode, each sequence run
alone (lengths), gradcheck, and warnings turned into errors.
"""

from __future__ import annotations

import functools
import warnings

import pytest
import torch
from torch.func import functional_call

from seqmodels.cells import (
    GRUCell,
    LayerNormGRUCell,
    LayerNormLSTMCell,
    LSTMCell,
    RecurrentCell,
    RNNCell,
    VariationalDropout,
    WeightDrop,
    Zoneout,
)
from seqmodels.cells.gates import gate_activations
from seqmodels.layers import Bidirectional, Recurrent, Stacked
from tests.helpers import max_abs_diff

TOL = 1e-10
DT = torch.float64
T, B, I, H = 5, 3, 4, 6
LENGTHS = torch.tensor([5, 2, 3])


def layer_norm(
    v: torch.Tensor, gain: torch.Tensor, shift: torch.Tensor | None = None, eps: float = 1e-5
) -> torch.Tensor:
    mean = v.mean(-1, keepdim=True)
    var = ((v - mean) ** 2).mean(-1, keepdim=True)  # biased variance, as Ba et al.
    out = gain * (v - mean) / torch.sqrt(var + eps)
    return out if shift is None else out + shift


def randomize_norms(cell: RecurrentCell) -> RecurrentCell:
    """Gains and shifts away from 1 and 0, so that a wrong formula shows."""
    with torch.no_grad():
        for name, p in cell.named_parameters():
            if "ln_" in name:
                p.uniform_(0.5, 1.5) if name.endswith("weight") else p.uniform_(-0.5, 0.5)
    return cell


def ln_lstm_transcription(cell, x, h, c):
    W_x, W_h = cell.weight_ih, cell.weight_hh
    b = cell.bias_ih + cell.bias_hh
    outputs = []
    for x_t in x:
        pre = layer_norm(x_t @ W_x.T, cell.ln_ih.weight) + layer_norm(h @ W_h.T, cell.ln_hh.weight) + b
        i, f, g, o = pre.chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(layer_norm(c, cell.ln_c.weight, cell.ln_c.bias))
        outputs.append(h)
    return torch.stack(outputs), (h, c)


def ln_gru_transcription(cell, x, h):
    b_x_r, b_x_z, b_x_n = cell.bias_ih.chunk(3)
    b_h_r, b_h_z, b_h_n = cell.bias_hh.chunk(3)
    outputs = []
    for x_t in x:
        a_r, a_z, a_n = layer_norm(x_t @ cell.weight_ih.T, cell.ln_ih.weight).chunk(3, dim=-1)
        u_r, u_z, u_n = layer_norm(h @ cell.weight_hh.T, cell.ln_hh.weight).chunk(3, dim=-1)
        r = torch.sigmoid(a_r + b_x_r + u_r + b_h_r)
        z = torch.sigmoid(a_z + b_x_z + u_z + b_h_z)
        n = torch.tanh(a_n + b_x_n + r * (u_n + b_h_n))
        h = (1 - z) * n + z * h
        outputs.append(h)
    return torch.stack(outputs), h


# ----------------------------------------------------------------------------- layer-norm cells
def test_layernorm_lstm_equals_transcription(seed):
    cell = randomize_norms(LayerNormLSTMCell(I, H, forget_bias=1.0).to(DT))
    x = torch.randn(T, B, I, dtype=DT)
    h0, c0 = torch.randn(B, H, dtype=DT), torch.randn(B, H, dtype=DT)
    with torch.no_grad():
        expected, (h_n, c_n) = ln_lstm_transcription(cell, x, h0, c0)
        out, (h, c) = Recurrent(cell)(x, (h0, c0))
        h1, _ = cell(x[0], (h0, c0))
    assert max_abs_diff(out, expected) <= TOL and max_abs_diff([h, c], [h_n, c_n]) <= TOL
    assert max_abs_diff(h1, expected[0]) <= TOL


def test_layernorm_gru_equals_transcription(seed):
    cell = randomize_norms(LayerNormGRUCell(I, H).to(DT))
    x = torch.randn(T, B, I, dtype=DT)
    h0 = torch.randn(B, H, dtype=DT)
    with torch.no_grad():
        expected, h_n = ln_gru_transcription(cell, x, h0)
        out, h = Recurrent(cell)(x, h0)
    assert max_abs_diff(out, expected) <= TOL and max_abs_diff(h, h_n) <= TOL


def test_layernorm_cells_parameters_and_init():
    torch.manual_seed(0)
    lstm = LayerNormLSTMCell(I, 64, forget_bias=1.0)
    assert set(lstm.state_dict()) == {
        "weight_ih",
        "weight_hh",
        "bias_ih",
        "bias_hh",
        "ln_ih.weight",
        "ln_hh.weight",
        "ln_c.weight",
        "ln_c.bias",
    }
    assert lstm.ln_ih.weight.shape == (256,) and lstm.ln_c.weight.shape == (64,)
    gru = LayerNormGRUCell(I, 64, bias=False)
    assert set(gru.state_dict()) == {"weight_ih", "weight_hh", "ln_ih.weight", "ln_hh.weight"}
    for cell in (lstm, gru):
        with torch.no_grad():
            for p in cell.parameters():
                p.fill_(3.0)
        cell.reset_parameters()
        for name, p in cell.named_parameters():
            if name.startswith("ln_"):
                assert torch.all(p == (1.0 if name.endswith("weight") else 0.0)), name
            elif name == "bias_ih" and cell is lstm:
                forget = p[64:128]
                assert forget.min() >= 1 - 1 / 8 and forget.max() <= 1 + 1 / 8
            else:
                assert p.abs().max() <= 1 / 8 and p.abs().max() > 1 / 16, name
    with pytest.raises(ValueError, match="eps"):
        LayerNormGRUCell(I, H, eps=0)
    with pytest.raises(ValueError, match="forget_bias"):
        LayerNormLSTMCell(I, H, bias=False, forget_bias=1.0)


def test_layernorm_is_invariant_to_rescaling_the_weights(seed):
    """What layer norm buys: scaling W_ih and W_hh leaves the cell unchanged (up to eps)."""
    cell = LayerNormLSTMCell(I, H, eps=1e-12).to(DT)
    x, state = torch.randn(T, B, I, dtype=DT), (torch.randn(B, H, dtype=DT), torch.randn(B, H, dtype=DT))
    with torch.no_grad():
        before, _ = Recurrent(cell)(x, state)
        cell.weight_ih.mul_(7.0)
        cell.weight_hh.mul_(0.1)
        after, _ = Recurrent(cell)(x, state)
    assert max_abs_diff(before, after) <= 1e-8


# ----------------------------------------------------------------------------- wrappers: eval
def plain_copy(wrapper):
    """The innermost cell with the wrapper's weights, unwrapped."""
    return wrapper.base_cell()


@pytest.mark.parametrize(
    "make",
    [
        lambda: VariationalDropout(LSTMCell, I, H, input_dropout=0.5, hidden_dropout=0.5),
        lambda: WeightDrop(GRUCell, I, H, weight_dropout=0.5),
        lambda: WeightDrop(VariationalDropout(LayerNormLSTMCell, I, H, input_dropout=0.3, hidden_dropout=0.3)),
    ],
    ids=["variational", "weight_drop", "nested"],
)
def test_dropout_wrappers_are_the_plain_cell_in_eval(make, seed):
    wrapper = make().to(DT).eval()
    x = torch.randn(T, B, I, dtype=DT)
    out, state = Recurrent(wrapper)(x, lengths=LENGTHS)
    ref_out, ref_state = Recurrent(plain_copy(wrapper))(x, lengths=LENGTHS)
    assert max_abs_diff(out, ref_out) <= TOL and max_abs_diff(list(state), list(ref_state)) <= TOL
    wrapper.train()
    out_train, _ = Recurrent(wrapper)(x, lengths=LENGTHS)
    assert max_abs_diff(out_train, ref_out) > 1e-3  # and in training they do something


def test_zoneout_eval_is_the_expectation(seed):
    wrapper = Zoneout(LSTMCell, I, H, zoneout=[0.2, 0.6]).to(DT).eval()
    cell = wrapper.base_cell()
    x = torch.randn(T, B, I, dtype=DT)
    h, c = torch.zeros(B, H, dtype=DT), torch.zeros(B, H, dtype=DT)
    expected = []
    with torch.no_grad():
        for x_t in x:
            _, (h_new, c_new) = cell(x_t, (h, c))
            h, c = 0.2 * h + 0.8 * h_new, 0.6 * c + 0.4 * c_new
            expected.append(h)
        out, (h_n, c_n) = Recurrent(wrapper)(x)
        again, _ = Recurrent(wrapper)(x)
    assert max_abs_diff(out, torch.stack(expected)) <= TOL and max_abs_diff([h_n, c_n], [h, c]) <= TOL
    assert torch.equal(out, again)  # deterministic


# ----------------------------------------------------------------------------- wrappers: training
def test_variational_dropout_equals_transcription_with_its_masks(seed):
    wrapper = VariationalDropout(GRUCell, I, H, input_dropout=0.4, hidden_dropout=0.5).to(DT).train()
    cell = wrapper.base_cell()
    x = torch.randn(T, B, I, dtype=DT)
    h0 = torch.randn(B, H, dtype=DT)
    out, h_n = Recurrent(wrapper)(x, h0)
    m_x, m_h = wrapper.input_mask, wrapper.hidden_mask
    assert m_x.shape == (B, I) and m_h.shape == (B, H)
    assert set(m_x.unique().tolist()) <= {0.0, 1 / 0.6} and set(m_h.unique().tolist()) <= {0.0, 2.0}
    h, expected = h0, []
    with torch.no_grad():
        for x_t in x:  # torch's GRU equations, x and h dropped where they enter the matmuls only
            gx = (m_x * x_t) @ cell.weight_ih.T + cell.bias_ih
            gh = (m_h * h) @ cell.weight_hh.T + cell.bias_hh
            r = torch.sigmoid(gx[:, :H] + gh[:, :H])
            z = torch.sigmoid(gx[:, H : 2 * H] + gh[:, H : 2 * H])
            n = torch.tanh(gx[:, 2 * H :] + r * gh[:, 2 * H :])
            h = (1 - z) * n + z * h  # the carried h is not dropped
            expected.append(h)
    assert max_abs_diff(out.detach(), torch.stack(expected)) <= TOL


def test_variational_masks_one_per_sequence_new_per_forward(seed):
    """Zero input weights for the dropped features: a feature dropped at t is dropped at every t."""
    wrapper = VariationalDropout(RNNCell, I, H, input_dropout=0.5).to(DT).train()
    x = torch.randn(T, B, I, dtype=DT, requires_grad=True)
    out, _ = Recurrent(wrapper)(x)
    out.sum().backward()
    dropped = wrapper.input_mask == 0  # (B, I)
    grad_zero = x.grad == 0  # (T, B, I)
    assert torch.equal(grad_zero, dropped.expand(T, B, I))  # the same mask at every step
    first = wrapper.input_mask.clone()
    Recurrent(wrapper)(x)
    assert not torch.equal(first, wrapper.input_mask)  # a new forward draws new masks


def test_variational_refuses_a_cell_without_hidden_projection(seed):
    wrapper = VariationalDropout(functools.partial(GRUCell, reset_after=False), I, H, hidden_dropout=0.3)
    with pytest.raises(ValueError, match="hidden_projection"):
        Recurrent(wrapper)(torch.randn(T, B, I))
    wrapper.eval()
    Recurrent(wrapper)(torch.randn(T, B, I))  # eval needs no masks
    VariationalDropout(functools.partial(GRUCell, reset_after=False), I, H, input_dropout=0.3)(torch.randn(B, I))


def test_weight_drop_equals_transcription_and_resamples_per_forward(seed):
    wrapper = WeightDrop(LSTMCell, I, H, weight_dropout=0.5).to(DT).train()
    cell = wrapper.base_cell()
    x = torch.randn(T, B, I, dtype=DT)
    out, _ = Recurrent(wrapper)(x)
    mask = wrapper.weight_mask
    assert mask.shape == (4 * H, H) and set(mask.unique().tolist()) == {0.0, 2.0}
    assert 0.3 < (mask == 0).double().mean() < 0.7
    W = cell.weight_hh * mask  # one dropped matrix for every step and every sequence
    h = c = torch.zeros(B, H, dtype=DT)
    expected = []
    with torch.no_grad():
        for x_t in x:
            i, f, g, o = (x_t @ cell.weight_ih.T + cell.bias_ih + h @ W.T + cell.bias_hh).chunk(4, dim=-1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            expected.append(h)
    assert max_abs_diff(out.detach(), torch.stack(expected)) <= TOL
    # gradients reach weight_hh through the mask: zero exactly where it dropped
    out.sum().backward()
    assert torch.equal(cell.weight_hh.grad == 0, mask == 0)
    Recurrent(wrapper)(x)
    assert not torch.equal(mask, wrapper.weight_mask)  # resampled per forward
    assert isinstance(cell.weight_hh, torch.nn.Parameter) and set(dict(cell.named_parameters())) == {
        "weight_ih",
        "weight_hh",
        "bias_ih",
        "bias_hh",
    }  # the module is left as it was


def test_weight_drop_raises_no_warning_and_trains(seed):
    model = Stacked(functools.partial(WeightDrop, LSTMCell, weight_dropout=0.5), I, H, num_layers=2, bidirectional=True)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.randn(T, B, I)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the test
        for _ in range(3):
            opt.zero_grad()
            out, _ = model(x, lengths=LENGTHS)
            out.pow(2).mean().backward()
            opt.step()
        model.eval()
        model(x)
    # pytest's own recorder agrees: nothing was warned
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        model.train()
        model(x)[0].sum().backward()
    assert record == []


def test_weight_drop_step_by_step_follows_the_optimizer(seed):
    """A step outside a layer never reuses a dropped weight computed before an optimizer update."""
    wrapper = WeightDrop(LSTMCell, I, H, weight_dropout=0.5).train()
    opt = torch.optim.SGD(wrapper.parameters(), lr=0.5)
    Recurrent(wrapper)(torch.randn(T, B, I))[0].sum().backward()
    opt.step()
    opt.zero_grad()
    h, state = wrapper(torch.randn(B, I))
    h.sum().backward()  # would fail with "modified by an inplace operation" on a stale product
    assert wrapper.weight_hh.grad is not None


def test_zoneout_training_keeps_or_updates_each_unit(seed):
    wrapper = Zoneout(LSTMCell, I, 200, zoneout=[0.3, 0.7]).to(DT).train()
    cell = wrapper.base_cell()
    state = (torch.randn(50, 200, dtype=DT), torch.randn(50, 200, dtype=DT))
    x = torch.randn(50, I, dtype=DT)
    with torch.no_grad():
        _, (h_new, c_new) = cell(x, state)
        h, (h_s, c) = wrapper(x, state)
    assert h is h_s
    for got, old, new, z in ((h, state[0], h_new, 0.3), (c, state[1], c_new, 0.7)):
        kept, updated = got == old, got == new
        assert torch.all(kept | updated)  # every unit is exactly its old or its new value
        assert abs(kept.double().mean().item() - z) < 0.02  # with probability z it kept the old one


@pytest.mark.parametrize("same_mask", [False, True], ids=["per_step", "per_sequence"])
def test_zoneout_mask_per_step_or_per_sequence(same_mask, seed):
    wrapper = Zoneout(RNNCell, I, 64, zoneout=0.5, same_mask_over_time=same_mask).to(DT).train()
    x = torch.randn(T, 8, I, dtype=DT)
    h0 = torch.full((8, 64), 7.0, dtype=DT)  # a value the tanh cell can never produce
    out, _ = Recurrent(wrapper)(x, h0)
    frozen = out == 7.0  # (T, B, H): units that have kept h0 so far
    if same_mask:
        assert torch.equal(frozen, frozen[:1].expand_as(frozen))  # the same units at every step
        assert 0.35 < frozen[0].double().mean() < 0.65
    else:
        assert frozen[-1].double().mean() < 0.15  # 0.5**5: few units kept h0 all the way
        assert not torch.equal(frozen[0], frozen[1])


def test_wrapper_arguments_are_checked():
    with pytest.raises(ValueError, match="zoneout must be one probability or 2"):
        Zoneout(LSTMCell, I, H, zoneout=[0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="zoneout must be a number in"):
        Zoneout(GRUCell, I, H, zoneout=1.0)
    with pytest.raises(ValueError, match="input_dropout"):
        VariationalDropout(LSTMCell, I, H, input_dropout=-0.1)
    with pytest.raises(ValueError, match="weight_dropout"):
        WeightDrop(LSTMCell, I, H, weight_dropout=True)
    with pytest.raises(ValueError, match="input_size and hidden_size are required"):
        WeightDrop(LSTMCell)
    with pytest.raises(ValueError, match="hidden_size=7 differs"):
        WeightDrop(LSTMCell(I, H), hidden_size=7)
    built = LSTMCell(I, H)
    assert WeightDrop(built).cell is built and WeightDrop(built).weight_hh is built.weight_hh


# ----------------------------------------------------------------------------- every layer, lengths, gradcheck
NEW_CELLS = {
    "layernorm_lstm": LayerNormLSTMCell,
    "layernorm_gru": LayerNormGRUCell,
    "zoneout_lstm": functools.partial(Zoneout, LSTMCell, zoneout=[0.2, 0.5]),
    "variational_gru": functools.partial(VariationalDropout, GRUCell, input_dropout=0.3, hidden_dropout=0.3),
    "weight_drop_layernorm_lstm": functools.partial(WeightDrop, LayerNormLSTMCell, weight_dropout=0.4),
}


def flat_state(state) -> list[torch.Tensor]:
    if isinstance(state, torch.Tensor):
        return [state]
    return [t for s in state for t in flat_state(s)]


def build_layer(kind: str, factory):
    if kind == "recurrent":
        return Recurrent(factory(input_size=I, hidden_size=H))
    if kind == "bidirectional":
        return Bidirectional(factory(input_size=I, hidden_size=H), factory(input_size=I, hidden_size=H))
    return Stacked(factory, I, H, num_layers=2, bidirectional=True)


@pytest.mark.parametrize("kind", ["recurrent", "bidirectional", "stacked"])
@pytest.mark.parametrize("name", sorted(NEW_CELLS))
def test_runs_in_every_layer_with_lengths(name, kind):
    torch.manual_seed(0)
    layer = build_layer(kind, NEW_CELLS[name]).to(DT)
    x = torch.randn(T, B, I, dtype=DT, requires_grad=True)
    # eval: each padded sequence gives what it gives alone
    layer.eval()
    with torch.no_grad():
        out, state = layer(x, lengths=LENGTHS)
        for b, n in enumerate(LENGTHS.tolist()):
            out_b, state_b = layer(x[:n, b : b + 1])
            assert max_abs_diff(out[:n, b : b + 1], out_b) <= TOL
            assert max_abs_diff([s[b : b + 1] for s in flat_state(state)], flat_state(state_b)) <= TOL
    # training: zero output and no gradient on padding, gradients on every parameter
    layer.train()
    out, state = layer(x, lengths=LENGTHS)
    pad = torch.arange(T)[:, None] >= LENGTHS[None, :]
    assert torch.all(out[pad] == 0)
    (out.pow(2).sum() + sum(s.sum() for s in flat_state(state))).backward()
    assert torch.isfinite(x.grad).all() and not x.grad[pad].any()
    for pname, p in layer.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, pname


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(NEW_CELLS))
def test_gradcheck_through_stacked_bidirectional_with_lengths_in_training(name):
    """Masks are drawn from a seeded generator inside fn, so every evaluation sees the same masks."""
    t, b, i, h = 3, 2, 2, 3
    torch.manual_seed(0)
    layer = Stacked(NEW_CELLS[name], i, h, num_layers=2, bidirectional=True).to(DT).train()
    names = [n for n, _ in layer.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in layer.parameters()]
    lengths = torch.tensor([3, 2])
    x = torch.randn(t, b, i, dtype=DT, requires_grad=True)

    def fn(x, *ps):
        with torch.random.fork_rng():
            torch.manual_seed(1)
            out, state = functional_call(layer, dict(zip(names, ps)), (x,), {"lengths": lengths})
        return (out, *flat_state(state))

    assert torch.autograd.gradcheck(fn, (x, *params), eps=1e-6, atol=1e-7, fast_mode=True)


# ----------------------------------------------------------------------------- gates
def test_gate_activations_match_the_step(seed):
    cell = randomize_norms(LayerNormLSTMCell(I, H).to(DT))
    x_proj = cell.input_projection(torch.randn(B, I, dtype=DT))
    state = (torch.randn(B, H, dtype=DT), torch.randn(B, H, dtype=DT))
    gates = gate_activations(Zoneout(cell, zoneout=0.1), x_proj, state)
    assert set(gates) == {"input", "forget", "output"}
    h, (_, c) = cell.step(x_proj, state)
    expected_c = gates["forget"] * state[1] + gates["input"] * torch.tanh(
        (x_proj + cell.hidden_projection(state[0]))[:, 2 * H : 3 * H]
    )
    assert max_abs_diff(c, expected_c) <= TOL
    assert max_abs_diff(h, gates["output"] * torch.tanh(layer_norm(c, cell.ln_c.weight, cell.ln_c.bias))) <= TOL
    for factory, names in (
        (LSTMCell, {"input", "forget", "output"}),
        (GRUCell, {"reset", "update"}),
        (functools.partial(GRUCell, reset_after=False), {"reset", "update"}),
        (LayerNormGRUCell, {"reset", "update"}),
        (RNNCell, set()),
    ):
        made = factory(input_size=I, hidden_size=H).to(DT)
        values = gate_activations(made, made.input_projection(torch.randn(B, I, dtype=DT)), made.init_state(B))
        assert set(values) == names
        assert all(v.shape == (B, H) and v.min() >= 0 and v.max() <= 1 for v in values.values())
    gru = GRUCell(I, H).to(DT)
    x_proj, h0 = gru.input_projection(torch.randn(B, I, dtype=DT)), torch.randn(B, H, dtype=DT)
    z = gate_activations(gru, x_proj, h0)["update"]
    n = torch.tanh(
        x_proj[:, 2 * H :] + gate_activations(gru, x_proj, h0)["reset"] * gru.hidden_projection(h0)[:, 2 * H :]
    )
    assert max_abs_diff(gru.step(x_proj, h0)[0], (1 - z) * n + z * h0) <= TOL


# ----------------------------------------------------------------------------- from the configs
@pytest.mark.parametrize(
    "name",
    ["lstm_layernorm", "gru_layernorm", "lstm_zoneout", "lstm_variational", "gru_variational", "lstm_weight_drop"],
)
def test_cell_configs_build_a_language_model_that_trains(name):
    from seqmodels.commands.instantiate import build_model
    from tests.helpers.configs import compose_config

    cfg = compose_config([f"model/cell={name}", "model.vocab_size=11", "model.embedding_dim=6", "model.hidden_size=6"])
    torch.manual_seed(0)
    model = build_model(cfg.model)
    cells = model.rnn.cells()
    assert type(cells[0]).__name__ == cfg.model.cell._target_.rsplit(".", 1)[1]
    tokens = torch.randint(0, 11, (2, 7))
    logits, state = model(tokens)
    logits.sum().backward()
    assert logits.shape == (2, 7, 11) and all(p.grad is not None for p in model.parameters())
    model.eval()
    assert torch.equal(model(tokens)[0], model(tokens)[0])  # eval is deterministic


# ----------------------------------------------------------------------------- weight drop's fast path
def test_weight_drop_runs_the_fused_function_where_it_can():
    from seqmodels.layers.backends import fused_sequence

    assert fused_sequence(WeightDrop(LSTMCell, I, H)) is not None
    assert fused_sequence(WeightDrop(VariationalDropout(GRUCell, I, H, input_dropout=0.3))) is not None
    assert fused_sequence(WeightDrop(VariationalDropout(GRUCell, I, H, hidden_dropout=0.3))) is None
    assert fused_sequence(WeightDrop(Zoneout(LSTMCell, I, H))) is None
    assert fused_sequence(WeightDrop(LayerNormLSTMCell, I, H)) is None
    assert fused_sequence(WeightDrop(functools.partial(GRUCell, reset_after=False), I, H)) is None


@pytest.mark.parametrize("inner", [LSTMCell, GRUCell, RNNCell], ids=["lstm", "gru", "rnn"])
def test_weight_drop_fused_equals_the_step_loop(inner):
    """Same seed, same masks: the fused Function and the generic loop (the cell seen through a plain
    CellWrapper) give the same outputs, states and gradients, with lengths."""
    from seqmodels.cells import CellWrapper

    torch.manual_seed(0)
    wrapper = WeightDrop(VariationalDropout(inner, I, H, input_dropout=0.4), weight_dropout=0.5).to(DT).train()
    x = torch.randn(T, B, I, dtype=DT)
    results = []
    for cell in (wrapper, CellWrapper(wrapper)):
        wrapper.zero_grad()
        torch.manual_seed(1)
        out, state = Recurrent(cell)(x, lengths=LENGTHS)
        (out.pow(2).sum() + sum(s.sum() for s in flat_state(state))).backward()
        results.append(
            [out.detach(), *[s.detach() for s in flat_state(state)], *[p.grad.clone() for p in wrapper.parameters()]]
        )
    assert max_abs_diff(results[0], results[1]) <= TOL
