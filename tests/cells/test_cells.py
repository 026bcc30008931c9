"""Cells against torch.nn.RNNCell/GRUCell/LSTMCell (float64): values, gradients, init, errors."""

from __future__ import annotations

import math

import pytest
import torch
from torch.func import functional_call

from seqmodels.cells import GRUCell, LSTMCell, RecurrentCell, RNNCell, SimplifiedGRUCell
from tests.helpers import max_abs_diff

pytestmark = pytest.mark.usefixtures("seed")

TOL = 1e-10
B, I, H, STEPS = 3, 5, 4, 4

# (id, seqmodels cell factory, torch cell factory, state is (h, c))
TORCH_PAIRS = [
    ("rnn_tanh", lambda bias: RNNCell(I, H, bias), lambda bias: torch.nn.RNNCell(I, H, bias), False),
    (
        "rnn_relu",
        lambda bias: RNNCell(I, H, bias, "relu"),
        lambda bias: torch.nn.RNNCell(I, H, bias, nonlinearity="relu"),
        False,
    ),
    ("gru", lambda bias: GRUCell(I, H, bias), lambda bias: torch.nn.GRUCell(I, H, bias), False),
    ("lstm", lambda bias: LSTMCell(I, H, bias), lambda bias: torch.nn.LSTMCell(I, H, bias), True),
]

ALL_CELLS = {
    "rnn_tanh": lambda: RNNCell(I, H),
    "rnn_relu": lambda: RNNCell(I, H, nonlinearity="relu"),
    "gru": lambda: GRUCell(I, H),
    "gru_reset_before": lambda: GRUCell(I, H, reset_after=False),
    "simplified_gru": lambda: SimplifiedGRUCell(I, H),
    "lstm": lambda: LSTMCell(I, H),
    "lstm_forget_bias": lambda: LSTMCell(I, H, forget_bias=1.0),
    "rnn_no_bias": lambda: RNNCell(I, H, bias=False),
    "gru_reset_before_no_bias": lambda: GRUCell(I, H, bias=False, reset_after=False),
    "simplified_gru_no_bias": lambda: SimplifiedGRUCell(I, H, bias=False),
}


def _rand_state(is_lstm: bool) -> tuple[torch.Tensor, ...]:
    n = 2 if is_lstm else 1
    return tuple(torch.randn(B, H, dtype=torch.float64, requires_grad=True) for _ in range(n))


def _run_steps(step, xs, state, is_lstm):
    """Unroll ``step(x, state) -> state'`` and return all outputs and the final state."""
    outs = []
    for x in xs:
        state = step(x, state)
        outs.append(state[0] if is_lstm else state)
    return torch.stack(outs), state


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("name,ours,theirs,is_lstm", TORCH_PAIRS, ids=[p[0] for p in TORCH_PAIRS])
def test_cell_matches_torch_values_and_gradients(name, ours, theirs, is_lstm, bias):
    ref = theirs(bias).double()
    cell = ours(bias).double()
    cell.load_state_dict(ref.state_dict(), strict=True)
    xs = torch.randn(STEPS, B, I, dtype=torch.float64, requires_grad=True)
    state0 = _rand_state(is_lstm)
    init = state0 if is_lstm else state0[0]

    out_ref, final_ref = _run_steps(lambda x, s: ref(x, s), xs, init, is_lstm)
    out, final = _run_steps(lambda x, s: cell(x, s)[1], xs, init, is_lstm)
    assert max_abs_diff(out, out_ref) <= TOL
    assert max_abs_diff(final, final_ref) <= TOL

    weights = torch.randn_like(out)
    leaves = [xs, *state0]
    g_ref = torch.autograd.grad((out_ref * weights).sum(), leaves + list(ref.parameters()))
    g = torch.autograd.grad((out * weights).sum(), leaves + list(cell.parameters()))
    names = ["input"] + [f"state{k}" for k in range(len(state0))] + [n for n, _ in cell.named_parameters()]
    assert [n for n, _ in ref.named_parameters()] == names[len(leaves) :]
    for n, a, b in zip(names, g, g_ref):
        assert max_abs_diff(a, b) <= TOL, n


@pytest.mark.parametrize("name,ours,theirs,is_lstm", TORCH_PAIRS, ids=[p[0] for p in TORCH_PAIRS])
def test_cell_default_state_is_zero_like_torch(name, ours, theirs, is_lstm):
    ref = theirs(True).double()
    cell = ours(True).double()
    cell.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(B, I, dtype=torch.float64)
    h, state = cell(x)
    expected = ref(x)
    assert max_abs_diff(state, expected) <= TOL
    assert max_abs_diff(h, expected[0] if is_lstm else expected) <= TOL


@pytest.mark.parametrize("name", sorted(ALL_CELLS))
def test_cell_gradcheck(name):
    """Autograd of every cell (inputs, state and parameters) against finite differences."""
    cell = ALL_CELLS[name]().double()
    param_names = [n for n, _ in cell.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in cell.parameters()]
    x = torch.randn(2, I, dtype=torch.float64, requires_grad=True)
    template = cell.init_state(2)
    state = tuple(
        torch.randn_like(t).requires_grad_() for t in (template if isinstance(template, tuple) else (template,))
    )
    is_tuple = isinstance(template, tuple)

    def f(x, *rest):
        st, ps = rest[: len(state)], rest[len(state) :]
        h, new = functional_call(cell, dict(zip(param_names, ps)), (x, st if is_tuple else st[0]))
        return (h, *new) if is_tuple else (h, new)

    assert torch.autograd.gradcheck(f, (x, *state, *params), eps=1e-6, atol=1e-7)


@pytest.mark.parametrize("factory", [RNNCell, GRUCell, SimplifiedGRUCell, LSTMCell])
@pytest.mark.parametrize("hidden", [16, 64])
def test_init_uniform_bound(factory, hidden):
    cell = factory(7, hidden)
    bound = 1.0 / math.sqrt(hidden)
    values = torch.cat([p.detach().flatten() for p in cell.parameters()])
    assert values.abs().max() <= bound
    # uniform on [-b, b]: with this many draws both ends are approached and the mean is near 0
    assert values.max() > 0.9 * bound and values.min() < -0.9 * bound
    assert abs(values.mean().item()) < 0.2 * bound


def test_reset_parameters_redraws():
    cell = LSTMCell(3, 4)
    before = [p.detach().clone() for p in cell.parameters()]
    cell.reset_parameters()
    assert all(not torch.equal(a, b) for a, b in zip(before, cell.parameters()))


def test_forget_bias_shifts_only_the_forget_slice_of_bias_ih():
    hidden = 32
    bound = 1.0 / math.sqrt(hidden)
    cell = LSTMCell(5, hidden, forget_bias=1.0)
    f = cell.bias_ih.detach()[hidden : 2 * hidden]
    others = torch.cat([cell.bias_ih.detach()[:hidden], cell.bias_ih.detach()[2 * hidden :]])
    assert ((f - 1.0).abs() <= bound).all() and f.min() > 1.0 - bound
    assert (others.abs() <= bound).all()
    assert (cell.bias_hh.detach().abs() <= bound).all()
    assert cell.forget_bias == 1.0
    torch.manual_seed(3)
    plain = LSTMCell(5, hidden)
    torch.manual_seed(3)
    shifted = LSTMCell(5, hidden, forget_bias=2.5)
    delta = shifted.bias_ih.detach() - plain.bias_ih.detach()
    expected = torch.zeros(4 * hidden)
    expected[hidden : 2 * hidden] = 2.5
    assert torch.allclose(delta, expected, atol=1e-6)
    assert torch.equal(shifted.weight_ih, plain.weight_ih)


@pytest.mark.parametrize(
    "factory,sizes",
    [(RNNCell, (4,)), (GRUCell, (4,)), (SimplifiedGRUCell, (4,)), (LSTMCell, (4, 4))],
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_init_state_shapes(factory, sizes, dtype):
    cell = factory(3, 4)
    state = cell.init_state(6, dtype=dtype)
    parts = state if isinstance(state, tuple) else (state,)
    assert len(parts) == len(sizes)
    assert cell.state_size == (sizes[0] if len(sizes) == 1 else sizes)
    for part, size in zip(parts, sizes):
        assert part.shape == (6, size) and part.dtype == dtype and not part.any()
    default = cell.init_state(2)
    first = default[0] if isinstance(default, tuple) else default
    assert first.dtype == cell.weight_hh.dtype and first.device == cell.weight_hh.device


def test_gru_forms_differ_but_share_parameters():
    a = GRUCell(I, H, reset_after=True).double()
    b = GRUCell(I, H, reset_after=False).double()
    b.load_state_dict(a.state_dict(), strict=True)
    x, h = torch.randn(B, I, dtype=torch.float64), torch.randn(B, H, dtype=torch.float64)
    assert max_abs_diff(a(x, h)[0], b(x, h)[0]) > 1e-6


def test_cell_subclass_contract():
    class NoStep(RecurrentCell):
        pass

    with pytest.raises(NotImplementedError, match="NoStep must implement step"):
        NoStep(2, 3)(torch.randn(1, 2))


@pytest.mark.parametrize(
    "build,match",
    [
        (lambda: RNNCell(3, 0), r"hidden_size must be a positive integer, got 0"),
        (lambda: RNNCell(3, -2), r"hidden_size must be a positive integer, got -2"),
        (lambda: GRUCell(3, 2.5), r"hidden_size must be a positive integer, got 2.5"),
        (lambda: LSTMCell(3, True), r"hidden_size must be a positive integer, got True"),
        (lambda: LSTMCell(0, 3), r"input_size must be a positive integer, got 0"),
        (
            lambda: RNNCell(3, 4, nonlinearity="sigmoid"),
            r"nonlinearity must be one of \['relu', 'tanh'\], got 'sigmoid'",
        ),
        (lambda: GRUCell(3, 4, reset_after="yes"), r"reset_after must be True or False, got 'yes'"),
        (lambda: RNNCell(3, 4, bias=1), r"bias must be True or False, got 1"),
        (lambda: LSTMCell(3, 4, forget_bias="1"), r"forget_bias must be a number, got '1'"),
        (lambda: LSTMCell(3, 4, bias=False, forget_bias=1.0), r"forget_bias=1.0 needs bias=True"),
    ],
)
def test_bad_constructor_arguments(build, match):
    with pytest.raises(ValueError, match=match):
        build()


@pytest.mark.parametrize("shape", [(3,), (2, 4), (1, 2, 3)])
@pytest.mark.parametrize("factory", [RNNCell, GRUCell, SimplifiedGRUCell, LSTMCell])
def test_bad_input_shape(factory, shape):
    with pytest.raises(ValueError, match=r"input must have shape \(batch, 3\), got"):
        factory(3, 4)(torch.randn(*shape))
