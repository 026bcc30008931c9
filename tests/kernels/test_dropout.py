"""The hashed dropout (seqmodels/kernels/dropout.py, csrc/dropout_impl.h): its masks against the hash written
here in torch integer ops, the keys drawn from torch's generator, the drop rate and independence of the masks,
the gradient (gradcheck) and double backward, and the fallbacks to torch's dropout."""

from __future__ import annotations

import shutil

import pytest
import torch
from torch import nn

from seqmodels.kernels import loader as native
from seqmodels.kernels.dropout import Dropout, _HashedDropout, _Mask, dropout

pytestmark = pytest.mark.skipif(shutil.which(native._compiler()) is None, reason="no C compiler on PATH")
WORD = 0xFFFFFFFF


@pytest.fixture(autouse=True)
def native_on(monkeypatch):
    monkeypatch.setenv(native.ENV_SWITCH, "1")
    assert native.kernels(torch.zeros(1)) is not None


def lowbias32(x: torch.Tensor) -> torch.Tensor:
    """Wellons' lowbias32 on int64 tensors holding 32-bit words (the oracle, written apart from the C)."""
    x = x ^ (x >> 16)
    x = (x * 0x7FEB352D) & WORD
    x = x ^ (x >> 15)
    x = (x * 0x846CA68B) & WORD
    return x ^ (x >> 16)


def expected(x: torch.Tensor, key0: int, key1: int, p: float) -> torch.Tensor:
    index = torch.arange(x.numel(), dtype=torch.int64)
    high = key1 ^ (index >> 32)
    h = lowbias32(((lowbias32((index & WORD) ^ key0)) + high) & WORD)
    keep = h >= min(round(p * 2.0**32), WORD)
    return torch.where(keep.reshape(x.shape), x / (1 - p), torch.zeros((), dtype=x.dtype))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("shape", [(1,), (7, 3), (35, 20, 200), (2 * 65536 + 5,)])  # the last splits over threads
def test_masks_equal_the_hash(dtype, shape):
    x = torch.randn(shape, dtype=dtype)
    library = native.kernels(x)
    for key0, key1, p in [(0, 0, 0.5), (123456789, 987654321, 0.2), (WORD, 17, 0.9)]:
        got = _Mask(key0, key1, p).apply(library, x)
        want = expected(x, key0, key1, p)
        assert torch.equal(got == 0, want == 0), f"masks differ at key {key0, key1}, p {p}"
        torch.testing.assert_close(got, want, rtol=1e-6 if dtype == torch.float32 else 1e-15, atol=0)


def test_keys_come_from_torchs_generator():
    """Same seed, same output; the keys are torch.randint's next two 32-bit words."""
    x = torch.randn(40, 30, dtype=torch.float64)
    torch.manual_seed(3)
    first = dropout(x, 0.3)
    torch.manual_seed(3)
    key0, key1 = torch.randint(0, 2**32, (2,), dtype=torch.int64).tolist()
    torch.testing.assert_close(first, expected(x, key0, key1, 0.3), rtol=1e-15, atol=0)
    torch.manual_seed(3)
    assert torch.equal(dropout(x, 0.3), first)
    assert not torch.equal(dropout(x, 0.3), first)  # the next call draws new keys


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_drop_rate_and_independence(p):
    """The drop rate is p; neighbours, and the masks of two calls, are independent (both dropped: p^2)."""
    torch.manual_seed(0)
    n = 1_000_000
    ones = torch.ones(n)
    dropped = dropout(ones, p) == 0
    again = dropout(ones, p) == 0
    bound = 5 * (p * (1 - p) / n) ** 0.5  # five standard deviations of a rate over n draws
    assert abs(dropped.double().mean().item() - p) < bound
    assert abs((dropped[1:] & dropped[:-1]).double().mean().item() - p * p) < 5 * bound
    assert abs((dropped & again).double().mean().item() - p * p) < 5 * bound
    out = dropout(ones, p)
    assert torch.all((out == 0) | (out == torch.tensor(1 / (1 - p))))  # kept elements scaled by 1/(1-p)


def test_gradient_is_the_same_mask():
    x = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)
    mask = _Mask(11, 22, 0.4)
    library = native.kernels(x)
    torch.autograd.gradcheck(lambda t: _HashedDropout.apply(t, library, mask), (x,))
    torch.autograd.gradgradcheck(lambda t: _HashedDropout.apply(t, library, mask), (x,))
    y = _HashedDropout.apply(x, library, mask)
    weights = torch.randn(6, 5, dtype=torch.float64)
    (grad,) = torch.autograd.grad((y * weights).sum(), x)
    torch.testing.assert_close(grad, expected(weights, 11, 22, 0.4), rtol=1e-15, atol=0)


def test_through_autograd_and_a_strided_gradient():
    torch.manual_seed(1)
    x = torch.randn(8, 9, dtype=torch.float64, requires_grad=True)
    y = dropout(x, 0.5)
    assert type(y.grad_fn).__name__ == "_HashedDropoutBackward"
    y.sum().backward()  # the incoming gradient is an expanded (stride-0) tensor
    torch.testing.assert_close(x.grad, (y != 0).double() * 2.0)


def test_a_transposed_input_is_masked_in_memory_order():
    """A permuted dense tensor (the LM's batch-major view of a time-major output) runs the kernel over its
    memory; the result keeps its strides, and a gradient laid out otherwise gets the same mask."""
    x = torch.randn(35, 20, 6, dtype=torch.float64).transpose(0, 1)  # (20, 35, 6), strides (6, 120, 1)
    mask = _Mask(5, 6, 0.5)
    out = mask.apply(native.kernels(x), x)
    assert out.stride() == x.stride()
    memory = x.transpose(0, 1).contiguous()  # the same memory order as a contiguous tensor
    torch.testing.assert_close(out.transpose(0, 1), expected(memory, 5, 6, 0.5), rtol=1e-15, atol=0)
    leaf = x.detach().requires_grad_()
    y = _HashedDropout.apply(leaf, native.kernels(x), mask)
    weights = torch.randn(20, 35, 6, dtype=torch.float64)  # contiguous: another layout than y's
    (grad,) = torch.autograd.grad((y * weights).sum(), leaf)
    torch.testing.assert_close(grad, torch.where(out != 0, weights * 2, torch.zeros(())), rtol=1e-15, atol=0)


def test_eval_and_zero_p_return_the_input():
    x = torch.randn(4, 3)
    assert dropout(x, 0.5, training=False) is x
    assert dropout(x, 0.0) is x


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_bad_probability_is_named(p):
    with pytest.raises(ValueError, match="between 0 and 1"):
        dropout(torch.ones(3), p)


@pytest.mark.parametrize(
    "make",
    [
        lambda: torch.randn(6, 8)[:, ::2],  # gaps in memory
        lambda: torch.randn(6, 4, dtype=torch.bfloat16),  # no kernel for the dtype
    ],
    ids=["gaps", "bfloat16"],
)
def test_falls_back_to_torch(make, monkeypatch):
    seen = []
    real = nn.functional.dropout
    monkeypatch.setattr(nn.functional, "dropout", lambda *args, **kw: seen.append(args) or real(*args, **kw))
    dropout(make(), 0.5)
    assert len(seen) == 1
    assert torch.equal(dropout(torch.ones(5), 1.0), torch.zeros(5))  # p = 1: torch's zeros
    monkeypatch.setenv(native.ENV_SWITCH, "0")
    dropout(torch.randn(3, 3), 0.5)
    assert len(seen) == 3


def test_forward_ad_and_torch_func_get_torchs_dropout():
    x, tangent = torch.randn(30, 20, dtype=torch.float64), torch.randn(30, 20, dtype=torch.float64)
    with torch.autograd.forward_ad.dual_level():
        out, jvp = torch.autograd.forward_ad.unpack_dual(dropout(torch.autograd.forward_ad.make_dual(x, tangent), 0.5))
    torch.testing.assert_close(jvp, torch.where(out != 0, tangent * 2, torch.zeros(())))
    batched = torch.func.vmap(lambda row: dropout(row, 0.5), randomness="different")(x)
    assert batched.shape == x.shape and torch.all((batched == 0) | torch.isclose(batched, 2 * x))


def test_dropout_module_is_a_torch_dropout():
    module = Dropout(0.25)
    assert isinstance(module, nn.Dropout) and repr(module) == repr(nn.Dropout(0.25))
    assert module.state_dict() == {}
    x = torch.randn(50, 40)
    torch.manual_seed(2)
    out = module(x)
    torch.manual_seed(2)
    assert torch.equal(out, dropout(x, 0.25))
    module.eval()
    assert module(x) is x
    inplace = Dropout(0.5, inplace=True).train()
    y = torch.ones(100)
    inplace(y)
    assert (y == 0).any()  # torch's in-place dropout wrote into its input
