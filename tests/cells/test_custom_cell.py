"""The extension point: a new cell (PeepholeLSTMCell) runs in every layer unchanged.

Oracles: a direct transcription of the peephole equations (Gers & Schmidhuber 2000), LSTMCell when the
peepholes are zero, each sequence run alone (for lengths), and gradcheck.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch.func import functional_call

from seqmodels.cells import LSTMCell, PeepholeLSTMCell, RecurrentCell
from seqmodels.layers import Bidirectional, Recurrent, Stacked
from tests.helpers import max_abs_diff

TOL = 1e-10
DT = torch.float64
T, B, I, H = 5, 3, 4, 6
LENGTHS = torch.tensor([5, 2, 3])


def make_cell(bias: bool = True, input_size: int = I, hidden_size: int = H) -> PeepholeLSTMCell:
    cell = PeepholeLSTMCell(input_size, hidden_size, bias=bias).to(DT)
    with torch.no_grad():  # peepholes large enough to matter
        for w in (cell.weight_ci, cell.weight_cf, cell.weight_co):
            w.uniform_(-1.0, 1.0)
    return cell


def transcription(cell: PeepholeLSTMCell, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor):
    """The peephole LSTM written out gate by gate with separate matrices, over a sequence x (T, B, I)."""
    W_i, W_f, W_g, W_o = cell.weight_ih.chunk(4)  # each (H, I)
    U_i, U_f, U_g, U_o = cell.weight_hh.chunk(4)  # each (H, H)
    if cell.bias_ih is None:
        b_i = b_f = b_g = b_o = torch.zeros(cell.hidden_size, dtype=x.dtype)
    else:
        b_i, b_f, b_g, b_o = (cell.bias_ih + cell.bias_hh).chunk(4)
    w_ci, w_cf, w_co = cell.weight_ci, cell.weight_cf, cell.weight_co
    outputs = []
    for x_t in x:
        i = torch.sigmoid(x_t @ W_i.T + h @ U_i.T + w_ci * c + b_i)
        f = torch.sigmoid(x_t @ W_f.T + h @ U_f.T + w_cf * c + b_f)
        g = torch.tanh(x_t @ W_g.T + h @ U_g.T + b_g)
        c = f * c + i * g
        o = torch.sigmoid(x_t @ W_o.T + h @ U_o.T + w_co * c + b_o)  # peeks at the new cell
        h = o * torch.tanh(c)
        outputs.append(h)
    return torch.stack(outputs), (h, c)


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_equals_transcription(bias, seed):
    cell = make_cell(bias)
    x = torch.randn(T, B, I, dtype=DT)
    h0, c0 = torch.randn(B, H, dtype=DT), torch.randn(B, H, dtype=DT)
    with torch.no_grad():
        expected, (h_n, c_n) = transcription(cell, x, h0, c0)
        out, (h, c) = Recurrent(cell)(x, (h0, c0))
        h1, (h1_state, c1) = cell(x[0], (h0, c0))  # a single step through the cell's forward
    assert max_abs_diff(out, expected) <= TOL
    assert max_abs_diff([h, c], [h_n, c_n]) <= TOL
    assert max_abs_diff(h1, expected[0]) <= TOL and h1_state is h1


def test_zero_peepholes_is_lstm(seed):
    cell = make_cell()
    lstm = LSTMCell(I, H).to(DT)
    lstm.load_state_dict({k: v for k, v in cell.state_dict().items() if not k.startswith("weight_c")})
    x = torch.randn(T, B, I, dtype=DT)
    with torch.no_grad():
        out_lstm, state_lstm = Recurrent(lstm)(x, lengths=LENGTHS)
        out_peep, _ = Recurrent(cell)(x, lengths=LENGTHS)
        assert max_abs_diff(out_peep, out_lstm) > 1e-3  # the peepholes matter...
        for w in (cell.weight_ci, cell.weight_cf, cell.weight_co):
            w.zero_()
        out_peep, state_peep = Recurrent(cell)(x, lengths=LENGTHS)
    assert max_abs_diff(out_peep, out_lstm) <= TOL  # ...and without them it is the LSTM
    assert max_abs_diff(list(state_peep), list(state_lstm)) <= TOL


def test_parameters_and_init():
    torch.manual_seed(1)
    hidden = 64  # enough draws that each parameter's max |value| exceeds half the bound
    cell = PeepholeLSTMCell(I, hidden)
    assert isinstance(cell, RecurrentCell) and not isinstance(cell, LSTMCell)
    assert set(cell.state_dict()) == {
        "weight_ih",
        "weight_hh",
        "bias_ih",
        "bias_hh",
        "weight_ci",
        "weight_cf",
        "weight_co",
    }
    assert cell.weight_ih.shape == (4 * hidden, I) and cell.weight_ci.shape == (hidden,)
    assert cell.state_size == (hidden, hidden)
    h, c = cell.init_state(B)
    assert h.shape == c.shape == (B, hidden) and not h.any() and not c.any()
    bound = 1 / math.sqrt(hidden)
    for _ in range(2):  # at construction, and again after reset_parameters()
        for name, p in cell.named_parameters():
            assert p.abs().max() <= bound, name
            assert p.abs().max() > bound / 2, name  # drawn, not left at zero
        with torch.no_grad():
            for p in cell.parameters():
                p.fill_(5.0)
        cell.reset_parameters()
    with pytest.raises(ValueError, match="hidden_size"):
        PeepholeLSTMCell(I, 0)


def run_each_alone(layer, x, lengths):
    """Outputs and final states of each sequence run on its own, without padding or lengths."""
    results = []
    with torch.no_grad():
        for b, n in enumerate(lengths.tolist()):
            results.append(layer(x[:n, b : b + 1]))
    return results


def flat_state(state) -> list[torch.Tensor]:
    if isinstance(state, torch.Tensor):
        return [state]
    return [t for s in state for t in flat_state(s)]


@pytest.mark.parametrize("layer_kind", ["recurrent", "bidirectional", "stacked"])
def test_runs_in_every_layer_with_lengths(layer_kind, seed):
    if layer_kind == "recurrent":
        layer = Recurrent(make_cell())
    elif layer_kind == "bidirectional":
        layer = Bidirectional(make_cell(), make_cell())
    else:
        layer = Stacked(PeepholeLSTMCell, I, H, num_layers=2, bidirectional=True).to(DT)
    x = torch.randn(T, B, I, dtype=DT, requires_grad=True)
    out, state = layer(x, lengths=LENGTHS)
    D = 1 if layer_kind == "recurrent" else 2
    assert out.shape == (T, B, D * H)
    pad = torch.arange(T)[:, None] >= LENGTHS[None, :]  # (T, B)
    assert torch.all(out[pad] == 0)
    # each padded sequence gives what it gives alone
    for b, (out_b, state_b) in enumerate(run_each_alone(layer, x.detach(), LENGTHS)):
        n = int(LENGTHS[b])
        assert max_abs_diff(out[:n, b : b + 1].detach(), out_b) <= TOL
        assert max_abs_diff([s[b : b + 1].detach() for s in flat_state(state)], flat_state(state_b)) <= TOL
    # gradients reach every parameter, peepholes included, and are finite
    loss = out.pow(2).sum() + sum(s.sum() for s in flat_state(state))
    loss.backward()
    assert torch.isfinite(x.grad).all() and not x.grad[pad].any()  # padding gets no gradient
    for name, p in layer.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


def test_gradcheck_through_stacked_bidirectional_with_lengths(seed):
    t, b, i, h = 3, 2, 2, 2
    layer = Stacked(PeepholeLSTMCell, i, h, num_layers=2, bidirectional=True).to(DT)
    names = [n for n, _ in layer.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in layer.parameters()]
    lengths = torch.tensor([3, 2])
    x = torch.randn(t, b, i, dtype=DT, requires_grad=True)

    def fn(x, *ps):
        out, state = functional_call(layer, dict(zip(names, ps)), (x,), {"lengths": lengths})
        return (out, *flat_state(state))

    assert torch.autograd.gradcheck(fn, (x, *params), eps=1e-6, atol=1e-8)
