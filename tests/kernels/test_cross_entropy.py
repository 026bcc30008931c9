"""The fused softmax cross-entropy (seqmodels/kernels/cross_entropy.py) against torch's
``torch.nn.functional.cross_entropy``: loss and gradient in float64, ignored rows, strided rows, a scaled
backward, the loss-only path, bad targets, non-finite logits, and the tasks that train with it."""

from __future__ import annotations

import shutil

import pytest
import torch
from torch.nn import functional

from seqmodels.kernels import cross_entropy as fused
from seqmodels.kernels import loader as native
from seqmodels.kernels.cross_entropy import cross_entropy

pytestmark = pytest.mark.skipif(shutil.which(native._compiler()) is None, reason="no C compiler on PATH")
FUSED = "_FusedCrossEntropyBackward"
SIZE_RULE = (fused.MIN_LOGITS_FEW_CLASSES, fused.MIN_LOGITS_MANY_CLASSES)


@pytest.fixture(autouse=True)
def native_on(monkeypatch):
    """The kernels on, at every size: the tests' small problems would otherwise go to torch (the size rule,
    tested on its own below)."""
    monkeypatch.setenv(native.ENV_SWITCH, "1")
    monkeypatch.setattr(fused, "MIN_LOGITS_FEW_CLASSES", 0)
    monkeypatch.setattr(fused, "MIN_LOGITS_MANY_CLASSES", 0)
    assert native.kernels(torch.zeros(1)) is not None


@pytest.mark.parametrize(
    "rows, classes, kernel",
    [(832, 23, False), (5000, 23, False), (6000, 23, True), (1000, 64, False), (1100, 64, True), (20, 10, True)],
)
def test_small_problems_go_to_torch(monkeypatch, rows, classes, kernel):
    """Below 131,072 logits with 16 to 63 classes, or 65,536 with more, torch's own loss is faster than the
    kernel's call; with fewer than 16 classes torch's log_softmax is slower at every size."""
    monkeypatch.setattr(fused, "MIN_LOGITS_FEW_CLASSES", SIZE_RULE[0])
    monkeypatch.setattr(fused, "MIN_LOGITS_MANY_CLASSES", SIZE_RULE[1])
    logits, targets = logits_and_targets(rows, classes, dtype=torch.float32)
    loss, grad = loss_and_grad(cross_entropy, logits, targets)
    assert (type(loss.grad_fn).__name__ == FUSED) == kernel
    theirs, theirs_grad = loss_and_grad(functional.cross_entropy, logits, targets)
    torch.testing.assert_close(loss, theirs)
    torch.testing.assert_close(grad, theirs_grad)


def logits_and_targets(rows: int, classes: int, dtype=torch.float64, ignored_every: int = 0, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    logits = 4 * torch.randn(rows, classes, dtype=dtype, generator=generator)
    targets = torch.randint(0, classes, (rows,), generator=generator)
    if ignored_every:
        targets[::ignored_every] = -100
    return logits, targets


def loss_and_grad(fn, logits, targets, scale: float = 1.0, **kwargs):
    leaf = logits.detach().clone().requires_grad_()
    loss = fn(leaf, targets, **kwargs)
    (loss * scale).backward()
    return loss, leaf.grad


@pytest.mark.parametrize("rows, classes, ignored_every", [(1, 2, 0), (37, 11, 5), (90, 1000, 3), (700, 300, 0)])
def test_float64_loss_and_gradient_equal_torch(rows, classes, ignored_every):
    # (90, 1000) and (700, 300) are above the kernel's threshold for splitting rows over threads
    logits, targets = logits_and_targets(rows, classes, ignored_every=ignored_every)
    ours, ours_grad = loss_and_grad(cross_entropy, logits, targets)
    theirs, theirs_grad = loss_and_grad(functional.cross_entropy, logits, targets)
    assert type(ours.grad_fn).__name__ == FUSED  # the C kernel ran, not the fallback
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape == ()
    torch.testing.assert_close(ours, theirs, rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(ours_grad, theirs_grad, rtol=1e-12, atol=1e-15)
    if ignored_every:
        assert ours_grad[::ignored_every].abs().sum() == 0


def test_float32_within_float32_rounding_of_torch():
    logits, targets = logits_and_targets(700, 10_000, dtype=torch.float32, ignored_every=9)
    ours, ours_grad = loss_and_grad(cross_entropy, logits, targets)
    theirs, theirs_grad = loss_and_grad(functional.cross_entropy, logits.double(), targets)
    assert ours.dtype == torch.float32 and type(ours.grad_fn).__name__ == FUSED
    torch.testing.assert_close(ours.double(), theirs, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(ours_grad.double(), theirs_grad, rtol=1e-4, atol=1e-9)


def test_strided_rows_scaled_backward_and_custom_ignore_index():
    wide, targets = logits_and_targets(40, 30, ignored_every=4)
    targets[targets == -100] = 7  # ignore_index 7: a real class id as the padding id (the translation task's)
    logits = wide[:, 3:23]  # row stride 30, 20 classes
    targets = targets.clamp(max=19)
    assert not logits.is_contiguous()
    ours, ours_grad = loss_and_grad(cross_entropy, logits, targets, scale=-2.5, ignore_index=7)
    theirs, theirs_grad = loss_and_grad(functional.cross_entropy, logits, targets, scale=-2.5, ignore_index=7)
    assert type(ours.grad_fn).__name__ == FUSED
    torch.testing.assert_close(ours, theirs, rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(ours_grad, theirs_grad, rtol=1e-12, atol=1e-15)


def test_twice_through_a_retained_graph_gives_the_same_gradient():
    logits, targets = logits_and_targets(20, 8)
    leaf = logits.clone().requires_grad_()
    loss = cross_entropy(leaf, targets)
    loss.backward(retain_graph=True)
    first = leaf.grad.clone()
    loss.backward()
    torch.testing.assert_close(leaf.grad, 2 * first)


def test_without_gradients_the_loss_alone():
    logits, targets = logits_and_targets(50, 600, ignored_every=7)
    with torch.no_grad():
        ours = cross_entropy(logits.requires_grad_(), targets)
    assert ours.grad_fn is None
    torch.testing.assert_close(ours, functional.cross_entropy(logits.detach(), targets), rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("bad", [-1, 12, 10**6])
def test_an_out_of_range_target_is_a_named_error(bad):
    logits, targets = logits_and_targets(6, 12)
    targets[4] = bad
    with pytest.raises(IndexError, match=f"target {bad} of row 4 is out of bounds for 12 classes"):
        cross_entropy(logits.requires_grad_(), targets)
    with torch.no_grad(), pytest.raises(IndexError, match="row 4"):
        cross_entropy(logits, targets)


def test_every_row_ignored_is_nan_with_a_zero_gradient_as_torch():
    logits, _ = logits_and_targets(5, 4)
    ours, grad = loss_and_grad(cross_entropy, logits, torch.full((5,), -100))
    assert torch.isnan(ours) and torch.isnan(functional.cross_entropy(logits, torch.full((5,), -100)))
    assert grad.abs().sum() == 0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_non_finite_logit_gives_a_non_finite_loss(dtype, value):
    # the NaN guard stops a run on a non-finite loss: the fused kernel must not hide one
    logits, targets = logits_and_targets(30, 200, dtype=dtype)
    logits[11, 50] = value
    assert not torch.isfinite(cross_entropy(logits.clone().requires_grad_(), targets))
    with torch.no_grad():
        assert not torch.isfinite(cross_entropy(logits, targets))


def test_label_smoothing_and_other_layouts_are_torch_own():
    logits, targets = logits_and_targets(10, 6)
    leaf = logits.clone().requires_grad_()
    smoothed = cross_entropy(leaf, targets, label_smoothing=0.1)
    assert type(smoothed.grad_fn).__name__ != FUSED
    torch.testing.assert_close(smoothed, functional.cross_entropy(logits, targets, label_smoothing=0.1))
    with pytest.raises(ValueError, match="Expected input batch_size"):
        cross_entropy(leaf, targets[:4])  # torch's own message for mismatched shapes


def test_switched_off_it_is_torch(monkeypatch):
    monkeypatch.setenv(native.ENV_SWITCH, "0")
    logits, targets = logits_and_targets(10, 6)
    loss = cross_entropy(logits.requires_grad_(), targets)
    assert type(loss.grad_fn).__name__ != FUSED


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("rows, classes, ignored_every", [(37, 11, 5), (700, 300, 0)])
def test_overwriting_the_logits_gives_torchs_loss_and_gradient(rows, classes, ignored_every, dtype):
    """The gradient written over the logits (a non-leaf, as a decoder's output) equals torch's, the target logit
    is read before its row is overwritten, and the logits' memory is the gradient's (no new buffer)."""
    logits, targets = logits_and_targets(rows, classes, dtype=dtype, ignored_every=ignored_every)
    theirs, theirs_grad = loss_and_grad(functional.cross_entropy, logits.double(), targets)
    leaf = logits.detach().clone().requires_grad_()
    produced = leaf * 1.0  # a result of an operation, as the decoder's logits are
    version = produced._version
    ours = cross_entropy(produced, targets, overwrite_logits=True)
    assert type(ours.grad_fn).__name__ == FUSED
    assert produced._version > version
    tolerance = dict(rtol=1e-12, atol=1e-14) if dtype == torch.float64 else dict(rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(produced.detach().double(), theirs_grad, **tolerance)  # the gradient is there now
    ours.backward()
    torch.testing.assert_close(ours.double(), theirs, **tolerance)
    torch.testing.assert_close(leaf.grad.double(), theirs_grad, **tolerance)


def test_overwritten_logits_that_a_backward_saved_fail_loudly():
    logits, targets = logits_and_targets(40, 30)
    leaf = logits.clone().requires_grad_()
    produced = leaf * 1.0
    squared = (produced**2).sum()  # pow saved the logits for its backward
    loss = cross_entropy(produced, targets, overwrite_logits=True)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        (loss + squared).backward()


def test_a_leaf_or_strided_logits_are_never_overwritten():
    logits, targets = logits_and_targets(40, 30)
    leaf = logits.clone().requires_grad_()
    cross_entropy(leaf, targets, overwrite_logits=True).backward()
    assert torch.equal(leaf.detach(), logits)  # a leaf's values are someone's parameters
    wide = (logits.clone().requires_grad_() * 1.0).repeat(1, 2)[:, :30]  # rows with a stride of 60
    before = wide.detach().clone()
    cross_entropy(wide, targets, overwrite_logits=True)
    assert torch.equal(wide.detach(), before)


def test_overwriting_a_linear_layers_reshaped_output():
    """The language model's case: logits are a view of a custom autograd Function's output (the oneDNN
    linear's, reshaped from (B, T, V)); the gradients through the layer equal torch's."""
    from seqmodels.kernels.linear import linear

    generator = torch.Generator().manual_seed(0)
    x = torch.randn(20, 35, 64, generator=generator)
    weight, bias = torch.randn(3000, 64, generator=generator) / 8, torch.randn(3000, generator=generator)
    targets = torch.randint(0, 3000, (700,), generator=generator)
    grads = []
    for loss_of, layer in [(cross_entropy, linear), (functional.cross_entropy, functional.linear)]:
        leaves = [t.clone().requires_grad_() for t in (x, weight, bias)]
        logits = layer(*leaves).reshape(-1, 3000)
        kwargs = {"overwrite_logits": True} if loss_of is cross_entropy else {}
        loss_of(logits, targets, **kwargs).backward()
        grads.append([leaf.grad for leaf in leaves])
    for ours, theirs in zip(*grads):
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-6)
