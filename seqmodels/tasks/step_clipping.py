"""Gradient clipping paid for in the optimizer's step instead of a pass over the gradients.

Clipping to ``max_norm`` multiplies every gradient by ``c = min(1, max_norm / (‖g‖ + 1e-6))`` (torch's
``clip_grads_with_norm_``), one more read and write of all of them each step. Two kinds of torch optimizer
can take ``c`` into their own step instead:

* **Plain SGD** (no momentum, no weight decay; torch's ``SGD``, fused or not). The update is ``p ← p - lr·g``,
  so ``p - lr·(c·g) = p - (c·lr)·g``: scaling each parameter group's learning rate by ``c`` for that one step
  (:func:`clip_in_the_step` reads ``c`` on the host) gives the same step at no cost. ``p.grad`` after the step
  holds the gradients before clipping.
* **A fused step** (torch's ``Adam``, ``AdamW`` or ``SGD`` with ``fused=True`` in every group, float32
  parameters). Its kernel divides each gradient by the optimizer's ``grad_scale`` tensor as it reads it and
  writes the quotient back (the route torch's ``GradScaler`` takes to unscale in the step), so ``grad_scale =
  1 / c = max(1, (‖g‖ + 1e-6) / max_norm)``, a 0-d tensor never read on the host, clips inside the pass the
  step makes anyway. ``p.grad`` after the step holds the clipped gradients, as with ``clip_grads_with_norm_``.

Both give the same parameters as clipping the gradients, up to the rounding of one product or quotient.
Elsewhere (other optimizers, momentum or weight decay without ``fused``, gradients off the CPU) the
gradients are scaled as before. Under a mixed-precision ``GradScaler`` the task unscales the gradients before
it clips, and the scaler's step then keeps the ``grad_scale`` set here (it multiplies in its own scale only
for gradients still scaled).

Measured (``docs/PERFORMANCE.md``, interleaved within one run): the PTB word model's step (plain SGD, 4.7 M
parameters) ran 4.4 % faster; the CoNLL-2000 tagger's (fused Adam, 2.45 M parameters) 1.1–2.0 %.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

EPS = 1e-6  # torch's clip_grads_with_norm_: max_norm / (total_norm + 1e-6)
FUSED_STEPS = (torch.optim.Adam, torch.optim.AdamW, torch.optim.SGD)


def _unwrapped(optimizer: torch.optim.Optimizer) -> torch.optim.Optimizer:
    return getattr(optimizer, "_optimizer", optimizer)  # a LightningOptimizer wraps the torch one


def _plain_sgd(optimizer: torch.optim.Optimizer) -> bool:
    return type(optimizer) is torch.optim.SGD and all(
        group.get("momentum", 0) == 0
        and group.get("weight_decay", 0) == 0
        and isinstance(group["lr"], (int, float))  # not a tensor rate
        and not isinstance(group["lr"], bool)
        for group in optimizer.param_groups
    )


def _fused_step(optimizer: torch.optim.Optimizer) -> bool:
    return (
        type(optimizer) in FUSED_STEPS
        and all(group.get("fused") for group in optimizer.param_groups)
        # the kernels read grad_scale as float32: a float64 step would clip with a rounded factor
        and all(p.dtype == torch.float32 for group in optimizer.param_groups for p in group["params"])
        and getattr(optimizer, "grad_scale", None) is None  # nobody else scales this step
        and getattr(optimizer, "found_inf", None) is None
    )


def step_can_take_the_clipping(optimizer: torch.optim.Optimizer, device: torch.device) -> bool:
    """Whether clipping may be carried by this optimizer's next step instead of a pass over its gradients, on
    ``device`` (under a ``GradScaler``: once the gradients are unscaled)."""
    optimizer = _unwrapped(optimizer)
    return device.type == "cpu" and (_plain_sgd(optimizer) or _fused_step(optimizer))


@dataclass
class ClippedStep:
    """What :func:`clip_in_the_step` changed for one step; :meth:`restore` puts it back after the step."""

    rates: list[tuple[dict, float]] = field(default_factory=list)  # (group, its learning rate before)
    scaled: torch.optim.Optimizer | None = None  # the optimizer given a grad_scale

    def restore(self) -> None:
        for group, lr in self.rates:
            group["lr"] = lr
        if self.scaled is not None:
            vars(self.scaled).pop("grad_scale", None)
        self.rates, self.scaled = [], None


def clip_in_the_step(optimizer: torch.optim.Optimizer, norm: torch.Tensor, max_norm: float) -> ClippedStep:
    """Make the next step of ``optimizer`` clip the gradients of total norm ``norm`` to ``max_norm``; return
    what to restore after it. Call only where :func:`step_can_take_the_clipping`."""
    optimizer = _unwrapped(optimizer)
    if _plain_sgd(optimizer):
        coefficient = max_norm / (float(norm) + EPS)
        if not coefficient < 1.0:  # within the norm (or NaN: the NaN guard has seen the norm before this)
            return ClippedStep()
        saved = [(group, group["lr"]) for group in optimizer.param_groups]
        for group, lr in saved:
            group["lr"] = lr * coefficient
        return ClippedStep(rates=saved)
    # the fused kernels read grad_scale as float32 on the gradients' device
    optimizer.grad_scale = ((norm.detach() + EPS) / max_norm).clamp(min=1.0).to(torch.float32)  # type: ignore[attr-defined]
    return ClippedStep(scaled=optimizer)
