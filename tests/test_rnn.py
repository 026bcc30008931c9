"""seqmodels.RNN / GRU / LSTM against torch.nn.RNN / GRU / LSTM: the drop-in contract."""

from __future__ import annotations

import functools
import itertools

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import seqmodels
from seqmodels.cells import LSTMCell, SimplifiedGRUCell
from tests.helpers import copy_torch_rnn_weights, max_abs_diff

pytestmark = pytest.mark.usefixtures("seed")

TOL = 1e-10
T, B, I, H = 5, 3, 3, 4
LENGTHS = torch.tensor([3, 5, 1])

# id -> (seqmodels class, torch class, extra kwargs for both)
MODES = {
    "rnn_tanh": (seqmodels.RNN, torch.nn.RNN, {}),
    "rnn_relu": (seqmodels.RNN, torch.nn.RNN, {"nonlinearity": "relu"}),
    "gru": (seqmodels.GRU, torch.nn.GRU, {}),
    "lstm": (seqmodels.LSTM, torch.nn.LSTM, {}),
}

needs_cuda = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device; torch.cuda.is_available() is False"),
]


def make_pair(mode, dtype=torch.float64, device="cpu", **kwargs):
    """A torch module and the seqmodels module with the same weights (copied by the test helper)."""
    ours_cls, torch_cls, extra = MODES[mode]
    ref = torch_cls(I, H, **extra, **kwargs).to(device=device, dtype=dtype)
    ours = ours_cls(I, H, **extra, **kwargs).to(device=device, dtype=dtype)
    copy_torch_rnn_weights(ours.cells(), ref)
    return ours, ref


def random_hx(mode, n, batch=B, dtype=torch.float64, device="cpu"):
    make = lambda: torch.randn(n, batch, H, dtype=dtype, device=device, requires_grad=True)  # noqa: E731
    return (make(), make()) if mode == "lstm" else make()


def flat(state):
    return list(state) if isinstance(state, tuple) else [state]


def torch_reference(ref, x, hx, lengths, batch_first):
    """torch on the padded batch, through pack_padded_sequence(enforce_sorted=False) with lengths."""
    if lengths is None:
        return ref(x, hx)
    packed = pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=False)
    out, h = ref(packed, hx)
    out, _ = pad_packed_sequence(out, batch_first=batch_first, total_length=T)
    return out, h


def grads(module, out, h_n, leaves, weights):
    """Gradients of a fixed random linear loss w.r.t. leaves and every parameter (torch's order)."""
    loss = sum((t * w).sum() for t, w in zip([out] + flat(h_n), weights))
    params = [p for _, p in sorted(torch_named_params(module))]
    return torch.autograd.grad(loss, leaves + params)


def torch_named_params(module):
    """(torch name, parameter) for a torch module or a seqmodels drop-in (via its torch-name attributes)."""
    D = 2 if module.bidirectional else 1
    names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if module.bias else [])
    return [
        (f"{n}_l{layer}{'_reverse' if d else ''}", getattr(module, f"{n}_l{layer}{'_reverse' if d else ''}"))
        for layer in range(module.num_layers)
        for d in range(D)
        for n in names
    ]


def diffs(ours, ref, x, hx, lengths, batch_first):
    """Max abs differences (output, h_n, gradients) between ours and torch on the same inputs."""
    leaves = [x] + ([] if hx is None else flat(hx))
    out_ref, h_ref = torch_reference(ref, x, hx, lengths, batch_first)
    out, h_n = ours(x, hx, lengths=lengths)
    weights = [torch.randn_like(t) for t in [out_ref] + flat(h_ref)]
    g_ref = grads(ref, out_ref, h_ref, leaves, weights)
    g = grads(ours, out, h_n, leaves, weights)
    return {
        "output": max_abs_diff(out, out_ref),
        "h_n": max_abs_diff(h_n, h_ref),
        "grads": max(max_abs_diff(a, b) for a, b in zip(g, g_ref)),
        "rel": max(
            (a - b).abs().max().item() / b.abs().max().item()
            for a, b in zip([out, *flat(h_n), *g], [out_ref, *flat(h_ref), *g_ref])
            if b.abs().max() > 0
        ),
    }


# ------------------------------------------------------------------------- the grid
@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["full", "lengths"])
@pytest.mark.parametrize("with_hx", [False, True], ids=["zero_hx", "hx"])
@pytest.mark.parametrize("batch_first", [False, True], ids=["time_major", "batch_first"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("mode", sorted(MODES))
def test_matches_torch(mode, num_layers, bidirectional, batch_first, with_hx, lengths):
    ours, ref = make_pair(mode, num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first)
    shape = (B, T, I) if batch_first else (T, B, I)
    x = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    hx = random_hx(mode, num_layers * (2 if bidirectional else 1)) if with_hx else None
    d = diffs(ours, ref, x, hx, lengths, batch_first)
    assert d["output"] <= TOL and d["h_n"] <= TOL and d["grads"] <= TOL, d


@pytest.mark.parametrize(
    "mode,num_layers,bidirectional,lengths",
    [("lstm", 2, True, LENGTHS), ("gru", 3, False, None), ("rnn_tanh", 2, True, LENGTHS), ("rnn_relu", 1, False, None)],
)
def test_float32_relative_difference(mode, num_layers, bidirectional, lengths):
    ours, ref = make_pair(mode, dtype=torch.float32, num_layers=num_layers, bidirectional=bidirectional)
    x = torch.randn(T, B, I, requires_grad=True)
    hx = random_hx(mode, num_layers * (2 if bidirectional else 1), dtype=torch.float32)
    d = diffs(ours, ref, x, hx, lengths, False)
    assert d["rel"] <= 1e-5, d


# ------------------------------------------------------------------ packed sequences
@pytest.mark.parametrize("batch_first", [False, True], ids=["time_major", "batch_first"])
@pytest.mark.parametrize("enforce_sorted", [False, True], ids=["unsorted", "sorted"])
@pytest.mark.parametrize("with_hx", [False, True], ids=["zero_hx", "hx"])
@pytest.mark.parametrize("mode", sorted(MODES))
def test_packed_sequence_in_and_out(mode, with_hx, enforce_sorted, batch_first):
    ours, ref = make_pair(mode, num_layers=2, bidirectional=True, batch_first=batch_first)
    lengths = torch.tensor([5, 3, 1]) if enforce_sorted else LENGTHS
    x = torch.randn(*((B, T, I) if batch_first else (T, B, I)), dtype=torch.float64, requires_grad=True)
    pack = functools.partial(
        pack_padded_sequence, lengths=lengths, batch_first=batch_first, enforce_sorted=enforce_sorted
    )
    hx = random_hx(mode, 4) if with_hx else None
    out_ref, h_ref = ref(pack(x), hx)
    out, h_n = ours(pack(x), hx)  # packed again: each graph owns its packing
    assert isinstance(out, torch.nn.utils.rnn.PackedSequence)
    assert torch.equal(out.batch_sizes, out_ref.batch_sizes)
    for a, b in [(out.sorted_indices, out_ref.sorted_indices), (out.unsorted_indices, out_ref.unsorted_indices)]:
        assert (a is None and b is None) or torch.equal(a, b)
    assert max_abs_diff(out.data, out_ref.data) <= TOL
    assert max_abs_diff(h_n, h_ref) <= TOL  # both in the original batch order
    leaves = [x] + ([] if hx is None else flat(hx))
    weights = [torch.randn_like(t) for t in [out_ref.data] + flat(h_ref)]
    g_ref = grads(ref, out_ref.data, h_ref, leaves, weights)
    g = grads(ours, out.data, h_n, leaves, weights)
    assert max(max_abs_diff(a, b) for a, b in zip(g, g_ref)) <= TOL


def test_packed_h_n_is_in_original_batch_order():
    ours, _ = make_pair("gru", num_layers=1)
    x = torch.randn(T, B, I, dtype=torch.float64)
    _, h_n = ours(pack_padded_sequence(x, LENGTHS, enforce_sorted=False))
    for b, length in enumerate(LENGTHS.tolist()):
        _, alone = ours(x[:length, b : b + 1])
        assert max_abs_diff(h_n[:, b : b + 1], alone) <= TOL


# ---------------------------------------------------------------- unbatched inputs
@pytest.mark.parametrize("with_hx", [False, True], ids=["zero_hx", "hx"])
@pytest.mark.parametrize("mode", sorted(MODES))
def test_unbatched_input_like_torch(mode, with_hx):
    ours, ref = make_pair(mode, num_layers=2, bidirectional=True, batch_first=True)
    x = torch.randn(T, I, dtype=torch.float64)
    hx = None
    if with_hx:
        hx = random_hx(mode, 4, batch=1)
        hx = tuple(t[:, 0] for t in hx) if mode == "lstm" else hx[:, 0]
    out_ref, h_ref = ref(x, hx)
    out, h_n = ours(x, hx)
    assert out.shape == (T, 2 * H) and max_abs_diff(out, out_ref) <= TOL
    assert max_abs_diff(h_n, h_ref) <= TOL


# ---------------------------------------------------------------------- dropout
@pytest.mark.parametrize("mode", sorted(MODES))
def test_dropout_train_and_eval_like_torch(mode, monkeypatch):
    """Evaluation equals torch's; in training our CPU dropout hashes its masks (other draws than torch's for
    the same seed: tests/layers), and with SEQMODELS_NATIVE=0 it is torch's, with torch's masks."""
    ours, ref = make_pair(mode, num_layers=3, bidirectional=True, dropout=0.5, batch_first=True)
    x = torch.randn(B, T, I, dtype=torch.float64)
    torch.manual_seed(5)
    out_ref, _ = ref(x)
    torch.manual_seed(5)
    assert max_abs_diff(ours(x)[0], out_ref) > 1e-3
    monkeypatch.setenv(seqmodels.kernels.loader.ENV_SWITCH, "0")
    torch.manual_seed(5)
    out, _ = ours(x)
    assert max_abs_diff(out, out_ref) <= TOL  # same masks from the same seed (torch's CPU path)
    monkeypatch.delenv(seqmodels.kernels.loader.ENV_SWITCH)
    ours.eval(), ref.eval()
    plain, _ = make_pair(mode, num_layers=3, bidirectional=True, batch_first=True)
    plain.load_state_dict(ours.state_dict(), strict=True)
    assert max_abs_diff(ours(x), plain(x)) == 0.0
    assert max_abs_diff(ours(x)[0], ref(x)[0]) <= TOL


def test_dropout_with_one_layer_warns_like_torch():
    with pytest.warns(UserWarning, match="dropout=0.5 acts between recurrent layers only"):
        seqmodels.LSTM(I, H, num_layers=1, dropout=0.5)


# ------------------------------------------------------------------- attributes
def test_torch_attributes_and_parameter_names():
    net = seqmodels.LSTM(I, H, num_layers=2, bias=False, batch_first=True, dropout=0.25, bidirectional=True)
    assert (
        net.input_size,
        net.hidden_size,
        net.num_layers,
        net.bias,
        net.batch_first,
        net.dropout,
        net.bidirectional,
        net.output_size,
    ) == (I, H, 2, False, True, 0.25, True, 2 * H)
    assert net.weight_hh_l1_reverse is net.cells()[3].weight_hh
    with torch.no_grad():
        net.weight_ih_l0.zero_()
    assert not net.cells()[0].weight_ih.any()
    for missing in ["bias_ih_l0", "weight_ih_l2", "weight_ih_l0_reversed", "not_a_thing"]:
        with pytest.raises(AttributeError):
            getattr(net, missing)
    net.dropout = 0.0
    assert net.stack.dropout == 0.0
    with pytest.raises(ValueError, match="dropout must be a number in"):
        net.dropout = 1.5


def test_device_and_dtype_constructor_arguments():
    net = seqmodels.GRU(I, H, num_layers=2, dtype=torch.float64, device="cpu")
    assert all(p.dtype == torch.float64 for p in net.parameters())
    out, h_n = net(torch.randn(T, B, I, dtype=torch.float64))
    assert out.dtype == h_n.dtype == torch.float64


def test_default_cells_and_cell_argument():
    assert all(type(c) is LSTMCell for c in seqmodels.LSTM(I, H, 2).cells())
    gru = seqmodels.GRU(I, H, 2, bidirectional=True, cell=SimplifiedGRUCell)
    assert len(gru.cells()) == 4 and all(type(c) is SimplifiedGRUCell for c in gru.cells())
    out, h_n = gru(torch.randn(T, B, I), lengths=LENGTHS)
    assert out.shape == (T, B, 2 * H) and h_n.shape == (4, B, H)
    lstm = seqmodels.LSTM(I, H, cell=functools.partial(LSTMCell, forget_bias=1.0))
    assert lstm.cells()[0].forget_bias == 1.0
    assert seqmodels.GRU(I, H, reset_after=False).cells()[0].reset_after is False
    assert seqmodels.RNN(I, H, 1, "relu").cells()[0].nonlinearity == "relu"


# ----------------------------------------------------------------- bad arguments
BAD_CONSTRUCTORS = [
    (lambda: seqmodels.LSTM(I, 0), r"hidden_size must be a positive integer, got 0"),
    (lambda: seqmodels.GRU(I, -3), r"hidden_size must be a positive integer, got -3"),
    (lambda: seqmodels.RNN(0, H), r"input_size must be a positive integer, got 0"),
    (lambda: seqmodels.LSTM(I, H, num_layers=0), r"num_layers must be a positive integer, got 0"),
    (lambda: seqmodels.GRU(I, H, num_layers=1.0), r"num_layers must be a positive integer, got 1.0"),
    (
        lambda: seqmodels.RNN(I, H, nonlinearity="sigmoid"),
        r"nonlinearity must be one of \['relu', 'tanh'\], got 'sigmoid'",
    ),
    (lambda: seqmodels.LSTM(I, H, 2, dropout=1.0), r"dropout must be a number in \[0, 1\), got 1.0"),
    (lambda: seqmodels.LSTM(I, H, 2, dropout=-0.1), r"dropout must be a number in \[0, 1\), got -0.1"),
    (lambda: seqmodels.GRU(I, H, 2, dropout="0.5"), r"dropout must be a number in \[0, 1\), got '0.5'"),
    (lambda: seqmodels.GRU(I, H, bidirectional="yes"), r"bidirectional must be True or False, got 'yes'"),
    (lambda: seqmodels.GRU(I, H, batch_first=1), r"batch_first must be True or False, got 1"),
    (lambda: seqmodels.GRU(I, H, reset_after=None), r"reset_after must be True or False, got None"),
    (lambda: seqmodels.LSTM(I, H, bias=False, cell=LSTMCell), r"bias only configure the default cell"),
    (lambda: seqmodels.RNN(I, H, nonlinearity="relu", cell=LSTMCell), r"nonlinearity only configure the default cell"),
    (lambda: seqmodels.GRU(I, H, cell="gru"), r"cell must be a cell class or factory, got 'gru'"),
]


@pytest.mark.parametrize("build,match", BAD_CONSTRUCTORS, ids=[str(i) for i in range(len(BAD_CONSTRUCTORS))])
def test_bad_constructor_arguments(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def _h(*shape):
    return torch.zeros(*shape)


BAD_CALLS = [  # (mode, input shape, hx, lengths, match)
    ("gru", (T * B * I,), None, None, r"input must be 3-D \(seq, batch, features\) or 2-D .* got shape \(45,\)"),
    ("gru", (1, T, B, I), None, None, r"got shape \(1, 5, 3, 3\)"),
    ("lstm", (T, B, I + 2), None, None, r"input has 5 features \(shape \(5, 3, 5\)\), expected input_size=3"),
    ("rnn_tanh", (T, I + 1), None, None, r"input has 4 features"),
    ("gru", (T, B, I), None, torch.tensor([3, 5]), r"lengths must have shape \(3,\), got \(2,\)"),
    ("gru", (T, B, I), None, torch.tensor([[3, 5, 1]]), r"lengths must have shape \(3,\), got \(1, 3\)"),
    ("lstm", (T, B, I), None, torch.tensor([3, 0, 1]), r"lengths must lie in \[1, 5\]"),
    ("lstm", (T, B, I), None, torch.tensor([3, 6, 1]), r"lengths must lie in \[1, 5\] .* max 6"),
    ("rnn_tanh", (T, I), None, torch.tensor([5]), r"lengths must be None for an unbatched \(2-D\) input"),
    ("gru", (T, B, I), _h(1, B, H), None, r"hx must have shape \(2, 3, 4\), got \(1, 3, 4\)"),
    ("gru", (T, B, I), _h(2, B + 1, H), None, r"hx must have shape \(2, 3, 4\), got \(2, 4, 4\)"),
    ("gru", (T, B, I), _h(2, B, H + 1), None, r"hx must have shape \(2, 3, 4\), got \(2, 3, 5\)"),
    ("gru", (T, I), _h(2, 1, H), None, r"hx must have shape \(2, 4\), got \(2, 1, 4\)"),
    ("lstm", (T, B, I), _h(2, B, H), None, r"hx must be a tuple of 2 tensors, got Tensor"),
    ("lstm", (T, B, I), (_h(2, B, H),) * 3, None, r"hx must be a tuple of 2 tensors, got tuple of length 3"),
    ("lstm", (T, B, I), (_h(2, B, H), _h(2, B, 1)), None, r"hx\[1\] must have shape \(2, 3, 4\), got \(2, 3, 1\)"),
]


@pytest.mark.parametrize("mode,shape,hx,lengths,match", BAD_CALLS, ids=[str(i) for i in range(len(BAD_CALLS))])
def test_bad_forward_arguments(mode, shape, hx, lengths, match):
    ours_cls, _, extra = MODES[mode]
    net = ours_cls(I, H, num_layers=2, **extra)
    with pytest.raises(ValueError, match=match):
        net(torch.randn(*shape), hx, lengths=lengths)


def test_packed_input_with_lengths_is_rejected():
    packed = pack_padded_sequence(torch.randn(T, B, I), LENGTHS, enforce_sorted=False)
    with pytest.raises(ValueError, match="lengths must be None for a PackedSequence input"):
        seqmodels.GRU(I, H)(packed, lengths=LENGTHS)


# ------------------------------------------------------------------------- CUDA
@pytest.mark.parametrize(
    "mode,bidirectional,lengths", list(itertools.product(sorted(MODES), [False, True], [None, LENGTHS]))
)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("backend", ["auto", "custom"])
@needs_cuda[0]
@needs_cuda[1]
def test_cuda_matches_torch(mode, bidirectional, lengths, dtype, backend):
    """On the GPU torch runs cuDNN (float32 also TF32-free here), so compare relatively; ``custom`` runs its
    time loops as CUDA graphs (seqmodels.kernels.cuda_graphs)."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    ours, ref = make_pair(mode, dtype=dtype, device="cuda", num_layers=2, bidirectional=bidirectional)
    ours.backend = backend
    x = torch.randn(T, B, I, dtype=dtype, device="cuda", requires_grad=True)
    hx = random_hx(mode, 2 * (2 if bidirectional else 1), dtype=dtype, device="cuda")
    d = diffs(ours, ref, x, hx, lengths, False)
    # float32: custom's cuBLAS GEMMs sum in another order than cuDNN's kernels (up to ~2e-5 relative seen)
    assert d["rel"] <= (1e-10 if dtype == torch.float64 else 1e-4 if backend == "custom" else 1e-5), d
    out, h_n = ours(x, hx, lengths=lengths)
    assert out.device.type == "cuda" and all(t.device.type == "cuda" for t in flat(h_n))
