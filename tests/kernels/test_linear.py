"""The oneDNN linear (seqmodels/kernels/linear.py) against float64 products: forward and every gradient in
float32, shapes and layouts, frozen parameters, the module form, and the fallbacks to torch's linear."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from seqmodels.cells import LSTMCell
from seqmodels.kernels import linear as onednn
from seqmodels.kernels import loader as native
from seqmodels.kernels.linear import Linear, linear
from seqmodels.models import RNNLanguageModel

pytestmark = pytest.mark.skipif(
    not onednn._onednn_matches_torch(), reason="this torch has no oneDNN linear op (torch.ops.mkldnn._linear_pointwise)"
)
ONEDNN = "_OneDnnLinearBackward"


@pytest.fixture(autouse=True)
def native_on(monkeypatch):
    monkeypatch.setenv(native.ENV_SWITCH, "1")


def tensors(rows=300, inputs=64, outputs=500, seed=0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, inputs, generator=generator)
    weight = torch.randn(outputs, inputs, generator=generator) / inputs**0.5
    bias = torch.randn(outputs, generator=generator)
    grad = torch.randn(rows, outputs, generator=generator)
    return x, weight, bias, grad


def gradients(fn, x, weight, bias, grad):
    leaves = [t.detach().clone().requires_grad_() for t in (x, weight, bias)]
    out = fn(*leaves)
    out.backward(grad)
    return out, [leaf.grad for leaf in leaves]


def float64_oracle(x, weight, bias, grad):
    """y = x W^T + b, dx = g W, dW = g^T x, db = Σ g, computed by hand in float64."""
    x, weight, bias, grad = (t.double() for t in (x, weight, bias, grad))
    g = grad.reshape(-1, weight.shape[0])
    rows = x.reshape(-1, x.shape[-1])
    return (x @ weight.t() + bias), [(g @ weight).reshape(x.shape), g.t() @ rows, g.sum(0)]


def assert_float32_close(got, want):
    assert got.dtype == torch.float32
    scale = want.abs().max().item() or 1.0
    torch.testing.assert_close(got.double(), want, rtol=1e-5, atol=2e-6 * scale)


def column_major(weight):
    """The same (N, K) values stored column by column, as seqmodels' Linear keeps its weight."""
    return weight.t().contiguous().t()


@pytest.mark.parametrize("layout", ["row-major", "column-major"])
@pytest.mark.parametrize("leading", [(700,), (20, 35)], ids=["rows", "batch-time"])
def test_forward_and_gradients_equal_float64_products(leading, layout):
    x, weight, bias, grad = tensors(rows=700)
    x, grad = x.reshape(*leading, 64), grad.reshape(*leading, 500)
    if layout == "column-major":
        weight = column_major(weight)
    out, grads = gradients(linear, x, weight, bias, grad)
    assert type(out.grad_fn).__name__ == ONEDNN  # oneDNN ran, not the fallback
    want, want_grads = float64_oracle(x, weight, bias, grad)
    assert out.shape == (*x.shape[:-1], 500)
    assert_float32_close(out, want)
    for got, expected in zip(grads, want_grads):
        assert got.shape == expected.shape
        assert_float32_close(got, expected)


def test_a_backward_called_under_autocast_keeps_the_forwards_float32():
    """The forward outside autocast (on oneDNN), ``backward()`` inside an autocast block: the gradients are
    still float32 products, not autocast's bfloat16."""
    x, weight, bias, grad = tensors(rows=700)
    leaves = [t.detach().clone().requires_grad_() for t in (x, weight, bias)]
    out = linear(*leaves)
    assert type(out.grad_fn).__name__ == ONEDNN
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out.backward(grad)
    _, want_grads = float64_oracle(x, weight, bias, grad)
    for leaf, expected in zip(leaves, want_grads):
        assert_float32_close(leaf.grad, expected)


def test_a_transposed_input_and_no_bias():
    x, weight, _, grad = tensors()
    x_t = x.t().contiguous().t()  # (300, 64) with strides (1, 300)
    leaf_x, leaf_w = x_t.detach().clone().requires_grad_(), weight.clone().requires_grad_()
    out = linear(leaf_x, leaf_w)
    assert type(out.grad_fn).__name__ == ONEDNN
    out.backward(grad)
    want, want_grads = float64_oracle(x, weight, torch.zeros(500), grad)
    assert_float32_close(out, want)
    assert_float32_close(leaf_x.grad, want_grads[0])
    assert_float32_close(leaf_w.grad, want_grads[1])


@pytest.mark.parametrize(
    "with_bias, trains",
    [(True, "both"), (True, "weight"), (True, "bias"), (False, "weight")],
    ids=["both", "weight-alone", "bias-alone", "no-bias"],
)
def test_a_column_major_weight_gets_its_gradient_in_its_own_layout(with_bias, trains):
    """dL/dW (and dL/db, from the same product) for a column-major weight: right values, the weight's strides,
    and nothing computed for what does not train."""
    x, weight, bias, grad = tensors()
    leaf_w = column_major(weight).requires_grad_(trains != "bias")
    leaf_b = bias.clone().requires_grad_(trains != "weight") if with_bias else None
    leaf_x = x.clone().requires_grad_()
    out = linear(leaf_x, leaf_w, leaf_b)
    assert type(out.grad_fn).__name__ == ONEDNN
    out.backward(grad)
    _, (want_x, want_w, want_b) = float64_oracle(x, weight, bias, grad)
    assert_float32_close(leaf_x.grad, want_x)
    if trains == "bias":
        assert leaf_w.grad is None
    else:
        assert leaf_w.grad.stride() == leaf_w.stride() == (1, 500)
        assert_float32_close(leaf_w.grad, want_w)
    if with_bias and trains != "weight":
        assert_float32_close(leaf_b.grad, want_b)
    elif with_bias:
        assert leaf_b.grad is None


def test_a_column_major_weight_accumulates_over_two_backwards():
    """A second backward adds into the first gradient (gradient accumulation), bias included."""
    x, weight, bias, grad = tensors()
    leaf_w, leaf_b = column_major(weight).requires_grad_(), bias.clone().requires_grad_()
    for _ in range(2):
        linear(x, leaf_w, leaf_b).backward(grad)
    _, (_, want_w, want_b) = float64_oracle(x, weight, bias, grad)
    assert_float32_close(leaf_w.grad, 2 * want_w)
    assert_float32_close(leaf_b.grad, 2 * want_b)


def test_frozen_weight_and_input_without_grad():
    x, weight, bias, grad = tensors()
    frozen = weight.clone()  # requires_grad False: no weight gradient computed
    trained_bias = bias.clone().requires_grad_()
    linear(x, frozen, trained_bias).backward(grad)
    assert frozen.grad is None
    torch.testing.assert_close(trained_bias.grad, grad.sum(0))


def test_without_grad_the_forward_alone():
    x, weight, bias, _ = tensors()
    with torch.no_grad():
        out = linear(x, weight.requires_grad_(), bias)
    assert out.grad_fn is None
    assert_float32_close(out, float64_oracle(x, weight, bias, torch.zeros(300, 500))[0])


@pytest.mark.parametrize(
    "case",
    ["float64", "small", "switched off"],
)
def test_falls_back_to_torchs_linear(case, monkeypatch):
    x, weight, bias, grad = tensors(rows=3, inputs=16, outputs=12) if case == "small" else tensors()
    if case == "float64":
        x, weight, bias, grad = (t.double() for t in (x, weight, bias, grad))
    if case == "switched off":
        monkeypatch.setenv(native.ENV_SWITCH, "0")
    out, grads = gradients(linear, x, weight, bias, grad)
    want, want_grads = gradients(nn.functional.linear, x, weight, bias, grad)
    assert type(out.grad_fn).__name__ != ONEDNN
    assert torch.equal(out, want) and all(torch.equal(a, b) for a, b in zip(grads, want_grads))


def test_wrong_shapes_get_torchs_message():
    x, weight, bias, _ = tensors()
    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
        linear(x[:, :10], weight, bias)
    with pytest.raises(RuntimeError, match="must match the existing size"):
        linear(x, weight, bias[:-1])


@pytest.mark.parametrize("strided", [lambda b: b[::2], lambda b: b[:1].expand(500)], ids=["every-other", "expanded"])
def test_a_strided_bias_goes_through_torch(strided):
    """oneDNN reads a bias as N contiguous floats: a strided or expanded one runs torch's linear."""
    x, weight, _, grad = tensors()
    results = []
    for fn in (linear, nn.functional.linear):
        storage = torch.randn(1000, generator=torch.Generator().manual_seed(1)).requires_grad_()
        bias = strided(storage)
        assert not bias.is_contiguous() and bias.shape == (500,)
        out = fn(x, weight, bias)
        out.backward(grad)
        results.append((out, storage.grad))
    (ours, ours_grad), (theirs, theirs_grad) = results
    assert type(ours.grad_fn).__name__ != ONEDNN
    assert torch.equal(ours, theirs) and torch.equal(ours_grad, theirs_grad)


def test_torchs_switches_autocast_and_transforms_get_torchs_linear(monkeypatch):
    x, weight, bias, _ = tensors()
    monkeypatch.setattr(torch.backends.mkldnn, "enabled", False)
    assert torch.equal(linear(x, weight, bias), nn.functional.linear(x, weight, bias))
    monkeypatch.undo()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert linear(x, weight, bias).dtype == nn.functional.linear(x, weight, bias).dtype == torch.bfloat16
    tangent = torch.randn_like(x)
    with torch.autograd.forward_ad.dual_level():
        primal = torch.autograd.forward_ad.make_dual(x, tangent)
        jvp = torch.autograd.forward_ad.unpack_dual(linear(primal, weight, bias)).tangent
    torch.testing.assert_close(jvp, tangent @ weight.t())
    grad_of_sum = torch.func.grad(lambda w: linear(x, w, bias).sum())(weight)
    torch.testing.assert_close(grad_of_sum, x.sum(0).expand_as(weight))


@pytest.mark.parametrize("outputs", [500, 2000], ids=["narrow", "wide"])
def test_linear_module_is_a_torch_linear(outputs):
    torch.manual_seed(0)
    ours = Linear(64, outputs)
    theirs = nn.Linear(64, outputs)
    theirs.load_state_dict(ours.state_dict(), strict=True)
    assert isinstance(ours, nn.Linear) and repr(ours) == repr(theirs)
    layout = (1, outputs) if outputs >= onednn.COLUMN_MAJOR_FROM else (64, 1)  # column-major for wide layers only
    assert ours.weight.stride() == layout and theirs.weight.stride() == (64, 1)  # the values alone are shared
    x = torch.randn(300, 64)
    assert_float32_close(ours(x), theirs(x).double())
    back = Linear(64, outputs)
    back.load_state_dict(theirs.state_dict(), strict=True)  # a row-major state dict into our weight
    assert torch.equal(back.weight, theirs.weight) and back.weight.stride() == layout
    assert Linear(64, outputs, dtype=torch.float64).to(torch.float32).weight.stride() == layout


def test_a_tied_language_model_trains_as_with_torchs_linear():
    """The decoder's weight is the embedding's: both gradients add up in it, as with nn.Linear."""
    torch.manual_seed(0)
    ours = RNNLanguageModel(5000, LSTMCell, embedding_dim=64, hidden_size=64, tie_weights=True)
    theirs = RNNLanguageModel(5000, LSTMCell, embedding_dim=64, hidden_size=64, tie_weights=True)
    theirs.load_state_dict(ours.state_dict(), strict=True)
    theirs.decoder.forward = lambda x: nn.functional.linear(x, theirs.decoder.weight, theirs.decoder.bias)
    tokens = torch.randint(0, 5000, (8, 20))
    for model in (ours, theirs):
        logits, _ = model(tokens)
        nn.functional.cross_entropy(logits.reshape(-1, 5000), tokens.reshape(-1)).backward()
    assert ours.decoder.weight is ours.embedding.weight
    scale = theirs.embedding.weight.grad.abs().max().item()
    torch.testing.assert_close(ours.embedding.weight.grad, theirs.embedding.weight.grad, rtol=1e-4, atol=1e-5 * scale)
    torch.testing.assert_close(ours.decoder.bias.grad, theirs.decoder.bias.grad, rtol=1e-4, atol=1e-6)
