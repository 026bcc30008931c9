"""Softmax cross-entropy whose forward also writes its gradient: one pass over the logits on CPU.

:func:`cross_entropy` is ``torch.nn.functional.cross_entropy(logits, targets, ignore_index=...)`` with the mean
reduction, the loss of every task with a softmax over a vocabulary or a tag set. With logits ``x`` (N, V),
targets ``t`` (N,) and M the rows whose target is not ``ignore_index``:

    loss = (1/M) Σ_n [logsumexp(x_n) - x_{n,t_n}],        dloss/dx_n = (softmax(x_n) - onehot(t_n)) / M

On CPU (float32/float64, the C kernels compiled) the forward is :file:`csrc/cross_entropy_impl.h`: each row is
read once for its max, once more from cache for its exponentials, and its gradient written once; the backward
returns that gradient (times the incoming one when it is not 1). torch's ``log_softmax`` + ``nll_loss``
instead write the log-probabilities, zero-fill an (N, V) gradient for ``nll_loss`` and read both again in the
softmax backward: for the PTB word model (N = 700, V = 10,000) that is ~28 MB moved several times a step.
What it saves end to end: ``docs/PERFORMANCE.md``.

The rows' losses are summed in float64 (torch sums in the logits' dtype, so a float32 sum of huge losses can
overflow to inf where this one does not). On problems too small for the single pass to pay for the kernel's
call (under 65,536 or 131,072 logits, :func:`kernel_is_faster`), anywhere else (GPU, other dtypes,
``torch.compile``, ``SEQMODELS_NATIVE=0``, no compiler) and with label smoothing it is
``torch.nn.functional.cross_entropy`` itself. Without gradients (evaluation) the kernel computes the loss alone.
The gradient is not differentiable again (no double backward).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from .loader import Kernels, kernels

IGNORE_INDEX = -100  # torch.nn.functional.cross_entropy's default

# Below these sizes (N·V logits) torch's log_softmax + nll_loss are faster: the kernel's call costs ~30 µs
# more than torch's (ctypes, a Python autograd Function forward and backward), which its single pass only wins
# back on larger problems. Measured forward + backward on 2 threads (AVX-512), ours / torch: (832, 23) 1.64,
# (3000, 23) 1.13, (8000, 23) 0.98, (4096, 40) 0.57; (832, 80) 1.03, (832, 128) 0.72, (700, 200) 0.52.
MANY_CLASSES = 64
MIN_LOGITS_FEW_CLASSES = 131_072  # FEW_CLASSES <= V < MANY_CLASSES
MIN_LOGITS_MANY_CLASSES = 65_536  # V >= MANY_CLASSES
# torch's CPU log_softmax over fewer classes than a vector register's float lanes (16 with AVX-512) takes
# another path, ~15x slower (65,536 logits: 1.5 ms at V = 15, 0.16 ms at V = 16): the kernel at every size.
FEW_CLASSES = 16


def cross_entropy(
    logits: Tensor,
    targets: Tensor,
    ignore_index: int = IGNORE_INDEX,
    label_smoothing: float = 0.0,
    overwrite_logits: bool = False,
) -> Tensor:
    """Mean cross-entropy of ``logits`` (N, V) against class ids ``targets`` (N,); rows whose target is
    ``ignore_index`` do not count. Equal to ``torch.nn.functional.cross_entropy(logits, targets,
    ignore_index=ignore_index, label_smoothing=label_smoothing)``, a 0-dim tensor (NaN when every row is
    ignored, as torch's); with label smoothing it is torch's.

    ``overwrite_logits=True`` is for a caller that reads the logits no more (a training step's loss): where
    the kernel writes a gradient and the logits are a contiguous result of other operations (not a leaf),
    the gradient is written over them instead of into a new (N, V) buffer, which saves memory and a pass of
    writes. Their version counter is bumped, so a backward that saved them fails loudly rather than reading
    the gradient."""
    library = _applies(logits, targets) if label_smoothing == 0.0 else None
    if library is None:
        return torch.nn.functional.cross_entropy(
            logits, targets, ignore_index=ignore_index, label_smoothing=label_smoothing
        )
    if torch.is_grad_enabled() and logits.requires_grad:
        in_place = overwrite_logits and logits.grad_fn is not None and logits.is_contiguous()
        return _FusedCrossEntropy.apply(logits, targets, ignore_index, library, in_place)
    return _forward(library, logits, targets, ignore_index, with_grad=False)[0]


def _applies(logits: Tensor, targets: Tensor) -> Kernels | None:
    if logits.dim() != 2 or targets.dim() != 1 or targets.dtype != torch.long or targets.device.type != "cpu":
        return None
    if logits.shape[0] != targets.shape[0] or logits.shape[1] == 0 or logits.stride(1) != 1:
        return None  # torch's own message for mismatched shapes; a strided last dim goes through torch too
    if not kernel_is_faster(*logits.shape):
        return None
    return kernels(logits)


def kernel_is_faster(rows: int, classes: int) -> bool:
    """Whether the kernel beats torch on (rows, classes) logits (the measured rule above)."""
    if classes < FEW_CLASSES:
        return True
    return rows * classes >= (MIN_LOGITS_MANY_CLASSES if classes >= MANY_CLASSES else MIN_LOGITS_FEW_CLASSES)


def _forward(
    library: Kernels, logits: Tensor, targets: Tensor, ignore_index: int, with_grad: bool, in_place: bool = False
) -> tuple[Tensor, Tensor | None]:
    rows, classes = logits.shape
    targets = targets.contiguous()
    loss = torch.empty((), dtype=torch.float64)
    grad = None
    if with_grad:
        grad = logits if in_place else torch.empty((rows, classes), dtype=logits.dtype)
    bad_row = library.xent_fwd(
        rows,
        classes,
        logits.data_ptr(),
        logits.stride(0),
        targets.data_ptr(),
        ignore_index,
        None if grad is None else grad.data_ptr(),
        loss.data_ptr(),
    )
    if bad_row >= 0:
        raise IndexError(
            f"cross_entropy: target {int(targets[bad_row])} of row {bad_row} is out of bounds for {classes} classes "
            f"(and is not ignore_index {ignore_index})"
        )
    if in_place:
        torch.autograd.graph.increment_version(logits)  # what saved the logits now holds a gradient
        grad = logits.detach()  # kept without the logits' autograd history (they may be a view of a Function's output)
    return loss.to(logits.dtype), grad


class _FusedCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx, logits: Tensor, targets: Tensor, ignore_index: int, library: Kernels, in_place: bool = False
    ) -> Tensor:
        loss, grad = _forward(library, logits, targets, ignore_index, with_grad=True, in_place=in_place)
        ctx.save_for_backward(grad)
        return loss

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_loss: Tensor) -> tuple[Tensor, None, None, None, None]:
        (grad,) = ctx.saved_tensors
        if grad_loss.device.type == "cpu" and float(grad_loss) == 1.0:  # loss.backward(): no pass over (N, V)
            return grad, None, None, None, None
        return grad * grad_loss, None, None, None, None
