"""Weights between torch and seqmodels: exact round trips of modules and cells, clear refusals."""

from __future__ import annotations

import functools
import itertools

import pytest
import torch
from torch import nn

import seqmodels
from seqmodels import interop
from seqmodels.cells import GRUCell, LSTMCell, PeepholeLSTMCell, RecurrentCell, RNNCell, SimplifiedGRUCell
from tests.helpers import max_abs_diff

pytestmark = pytest.mark.usefixtures("seed")

T, B, I, H = 4, 2, 3, 5

# (seqmodels class, torch class, extra kwargs)
MODES = {
    "rnn_tanh": (seqmodels.RNN, nn.RNN, {}),
    "rnn_relu": (seqmodels.RNN, nn.RNN, {"nonlinearity": "relu"}),
    "gru": (seqmodels.GRU, nn.GRU, {}),
    "lstm": (seqmodels.LSTM, nn.LSTM, {}),
}
OPTIONS = list(itertools.product([1, 2], [False, True], [True, False], [False, True]))  # layers, bi, bias, batch_first


def assert_state_dicts_identical(a: dict, b: dict) -> None:
    """Same keys in the same order, same dtypes and devices, equal bit for bit."""
    assert list(a) == list(b)
    for key in a:
        assert a[key].dtype == b[key].dtype and a[key].device == b[key].device, key
        assert torch.equal(a[key], b[key]), key


@pytest.mark.parametrize("num_layers,bidirectional,bias,batch_first", OPTIONS)
@pytest.mark.parametrize("mode", sorted(MODES))
def test_torch_to_seqmodels_to_torch_is_exact(mode, num_layers, bidirectional, bias, batch_first):
    ours_cls, torch_cls, extra = MODES[mode]
    dropout = 0.3 if num_layers > 1 else 0.0
    ref = torch_cls(
        I,
        H,
        num_layers,
        bias=bias,
        batch_first=batch_first,
        dropout=dropout,
        bidirectional=bidirectional,
        dtype=torch.float64,
        **extra,
    )
    net = ours_cls.from_torch(ref)
    assert type(net) is ours_cls
    assert (net.num_layers, net.bidirectional, net.bias, net.batch_first, net.dropout, net.training) == (
        num_layers,
        bidirectional,
        bias,
        batch_first,
        dropout,
        True,
    )
    if ours_cls is seqmodels.RNN:
        assert net.nonlinearity == ref.nonlinearity
    back = net.to_torch()
    assert type(back) is torch_cls
    assert_state_dicts_identical(back.state_dict(), ref.state_dict())
    for attr in ["input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout", "bidirectional", "mode"]:
        assert getattr(back, attr) == getattr(ref, attr), attr

    net.eval(), ref.eval()
    x = torch.randn(*((B, T, I) if batch_first else (T, B, I)), dtype=torch.float64)
    assert max_abs_diff(net(x), ref(x)) <= 1e-12
    assert max_abs_diff(back.eval()(x), ref(x)) == 0.0


@pytest.mark.parametrize("mode", sorted(MODES))
def test_seqmodels_to_torch_to_seqmodels_is_exact(mode):
    ours_cls, _, extra = MODES[mode]
    net = ours_cls(I, H, num_layers=2, bidirectional=True, dropout=0.1, **extra).double().eval()
    again = ours_cls.from_torch(net.to_torch())
    assert_state_dicts_identical(again.state_dict(), net.state_dict())
    assert not again.training and again.dropout == 0.1


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.float16])
def test_dtype_is_preserved_both_ways(dtype):
    ref = nn.LSTM(I, H, 2, dtype=dtype)
    net = seqmodels.LSTM.from_torch(ref)
    assert all(p.dtype == dtype for p in net.parameters())
    back = net.to_torch()
    assert_state_dicts_identical(back.state_dict(), ref.state_dict())


def test_to_torch_keeps_the_forget_bias_values():
    net = seqmodels.LSTM(I, H, cell=functools.partial(LSTMCell, forget_bias=1.0)).double()
    ref = net.to_torch()
    assert torch.equal(ref.bias_ih_l0, net.cells()[0].bias_ih)
    x = torch.randn(T, B, I, dtype=torch.float64)
    assert max_abs_diff(net(x), ref(x)) <= 1e-12


def test_gru_reset_before_has_no_torch_equivalent():
    with pytest.raises(ValueError, match=r"reset_after=False .* has no torch equivalent"):
        seqmodels.GRU(I, H, reset_after=False).to_torch()
    with pytest.raises(ValueError, match=r"reset_after=False .* has no torch equivalent"):
        interop.cell_to_torch(GRUCell(I, H, reset_after=False))


class TinyCell(RecurrentCell):
    def __init__(self, input_size, hidden_size):
        super().__init__(input_size, hidden_size)

    def step(self, x_proj, state):
        h = torch.tanh(x_proj + self.hidden_projection(state))
        return h, h


class SubclassedLSTMCell(LSTMCell):
    """Looks like an LSTMCell to isinstance, but may compute anything: never exported."""


@pytest.mark.parametrize(
    "net,name",
    [
        (lambda: seqmodels.GRU(I, H, cell=SimplifiedGRUCell), "SimplifiedGRUCell"),
        (lambda: seqmodels.LSTM(I, H, cell=PeepholeLSTMCell), "PeepholeLSTMCell"),
        (lambda: seqmodels.RNN(I, H, cell=TinyCell), "TinyCell"),
        (lambda: seqmodels.LSTM(I, H, cell=SubclassedLSTMCell), "SubclassedLSTMCell"),
    ],
)
def test_custom_cells_have_no_torch_equivalent(net, name):
    with pytest.raises(ValueError, match=f"{name} has no torch equivalent"):
        net().to_torch()


def test_from_torch_refuses_the_wrong_module():
    with pytest.raises(ValueError, match=r"GRU.from_torch needs a torch.nn.GRU, got LSTM"):
        seqmodels.GRU.from_torch(nn.LSTM(I, H))
    with pytest.raises(ValueError, match=r"LSTM.from_torch needs a torch.nn.LSTM, got LSTMCell"):
        seqmodels.LSTM.from_torch(nn.LSTMCell(I, H))
    with pytest.raises(ValueError, match=r"proj_size=2 has no seqmodels equivalent"):
        seqmodels.LSTM.from_torch(nn.LSTM(I, H, proj_size=2))
    with pytest.raises(ValueError, match=r"RNNBase has no torch counterpart"):
        seqmodels.RNNBase.from_torch(nn.LSTM(I, H))


# -------------------------------------------------------------------------- cells
TORCH_CELLS = {
    "rnn_tanh": lambda bias: nn.RNNCell(I, H, bias),
    "rnn_relu": lambda bias: nn.RNNCell(I, H, bias, nonlinearity="relu"),
    "gru": lambda bias: nn.GRUCell(I, H, bias),
    "lstm": lambda bias: nn.LSTMCell(I, H, bias),
}
OUR_TYPE = {"rnn_tanh": RNNCell, "rnn_relu": RNNCell, "gru": GRUCell, "lstm": LSTMCell}


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("kind", sorted(TORCH_CELLS))
def test_cell_round_trip_is_exact(kind, bias):
    ref = TORCH_CELLS[kind](bias).double().eval()
    cell = interop.cell_from_torch(ref)
    assert type(cell) is OUR_TYPE[kind] and cell.bias == bias and not cell.training
    back = interop.cell_to_torch(cell)
    assert type(back) is type(ref)
    assert_state_dicts_identical(back.state_dict(), ref.state_dict())
    if kind.startswith("rnn"):
        assert back.nonlinearity == ref.nonlinearity == cell.nonlinearity
    x = torch.randn(B, I, dtype=torch.float64)
    h, state = cell(x)
    assert max_abs_diff(state, ref(x)) <= 1e-12
    assert max_abs_diff(back(x), ref(x)) == 0.0


def test_cell_interop_refusals():
    with pytest.raises(ValueError, match=r"torch_cell must be a torch.nn.RNNCell, GRUCell or LSTMCell, got GRU"):
        interop.cell_from_torch(nn.GRU(I, H))
    for cell in [SimplifiedGRUCell(I, H), PeepholeLSTMCell(I, H), TinyCell(I, H)]:
        with pytest.raises(ValueError, match=f"{type(cell).__name__} has no torch equivalent"):
            interop.cell_to_torch(cell)


# ------------------------------------------------------------------- name mapping
def test_name_mapping_follows_torch_order():
    ref = nn.GRU(I, H, num_layers=2, bidirectional=True)
    mapping = interop.torch_name_map(2, True, bias=True)
    assert [name for name, _, _ in mapping] == list(ref.state_dict())
    assert mapping[4] == ("weight_ih_l0_reverse", 1, "weight_ih")
    assert interop.parse_torch_param_name("bias_hh_l3_reverse") == ("bias_hh", 3, 1)
    assert interop.parse_torch_param_name("weight_ih_l0") == ("weight_ih", 0, 0)
    assert interop.parse_torch_param_name("weight_hr_l0") is None  # LSTM projections: not ours
    with pytest.raises(ValueError, match="name must be one of"):
        interop.torch_param_name("weight_xx", 0, 0)


def test_load_state_dict_from_torch_names_the_problem():
    net = seqmodels.LSTM(I, H, num_layers=2)
    sd = nn.LSTM(I, H, num_layers=2).state_dict()
    interop.load_state_dict_from_torch(net.cells(), sd, 2, False)
    assert torch.equal(net.weight_hh_l1, sd["weight_hh_l1"])
    missing = {k: v for k, v in sd.items() if k != "bias_ih_l1"}
    with pytest.raises(ValueError, match=r"missing keys \['bias_ih_l1'\], unexpected keys \[\]"):
        interop.load_state_dict_from_torch(net.cells(), missing, 2, False)
    extra = dict(sd, weight_ih_l0_reverse=sd["weight_ih_l0"])
    with pytest.raises(ValueError, match=r"unexpected keys \['weight_ih_l0_reverse'\]"):
        interop.load_state_dict_from_torch(net.cells(), extra, 2, False)
    wrong = dict(sd, weight_hh_l0=torch.zeros(4 * H, H + 1))
    with pytest.raises(ValueError, match=r"weight_hh_l0 has shape \(20, 6\), cell 0.weight_hh expects \(20, 5\)"):
        interop.load_state_dict_from_torch(net.cells(), wrong, 2, False)
    with pytest.raises(ValueError, match=r"expected num_layers\*num_directions=4 cells, got 2"):
        interop.load_state_dict_from_torch(net.cells(), sd, 2, True)


def test_drop_in_reads_and_writes_torch_state_dicts():
    ref = nn.GRU(I, H, num_layers=2, bidirectional=True, bias=False)
    net = seqmodels.GRU(I, H, num_layers=2, bidirectional=True, bias=False)
    net.load_torch_state_dict(ref.state_dict())
    assert_state_dicts_identical(net.torch_state_dict(), ref.state_dict())
    with pytest.raises(ValueError, match=r"missing keys \['weight_hh_l1_reverse'\]"):
        net.load_torch_state_dict({k: v for k, v in ref.state_dict().items() if k != "weight_hh_l1_reverse"})


def test_state_dict_to_torch_loads_strictly_into_torch():
    net = seqmodels.RNN(I, H, num_layers=3, bias=False, bidirectional=True)
    ref = nn.RNN(I, H, num_layers=3, bias=False, bidirectional=True)
    ref.load_state_dict(interop.state_dict_to_torch(net.cells(), 3, True), strict=True)
    assert torch.equal(ref.weight_hh_l2_reverse, net.weight_hh_l2_reverse)


# --------------------------------------------------------------------------- CUDA
@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device; torch.cuda.is_available() is False")
@pytest.mark.parametrize("mode", sorted(MODES))
def test_device_is_preserved_both_ways(mode):
    ours_cls, torch_cls, extra = MODES[mode]
    ref = torch_cls(I, H, 2, bidirectional=True, device="cuda", **extra)
    net = ours_cls.from_torch(ref)
    assert all(p.device.type == "cuda" for p in net.parameters())
    back = net.to_torch()
    assert_state_dicts_identical(back.state_dict(), ref.state_dict())
    cell = interop.cell_from_torch(nn.LSTMCell(I, H, device="cuda"))
    assert cell.weight_ih.device.type == "cuda" and interop.cell_to_torch(cell).weight_ih.device.type == "cuda"
