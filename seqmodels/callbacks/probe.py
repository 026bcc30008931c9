"""Look inside the recurrence of a model for one forward/backward pass: ∂L/∂h_t and gate values.

``with RecurrentProbe(model) as probe: loss = f(model(...)); loss.backward()`` then
``probe.gradient_norms()`` and ``probe.gate_statistics()``. While the block runs, the cell of every
:class:`~seqmodels.layers.Recurrent` inside ``model`` (those of ``Bidirectional`` and ``Stacked``
included) is wrapped in a recording cell, and layers set to ``backend="torch"`` run ``"custom"``:
the recurrence then goes through the generic step loop, which gives the same numbers as the fused
and torch kernels (the parity tests check it) and exposes each h_t as a node of the graph. On exit
the model is exactly as before.

∂L/∂h_t is the *total* gradient of the loss with respect to the state h_t: what reaches h_t from
the layers above at step t plus what flows back through time from h_{t+1}, ... (the "horizontal"
gradient of Hochreiter 1991 and Bengio et al. 1994).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from ..cells.base import RecurrentCell, State
from ..cells.gates import gate_activations
from ..cells.wrapper import CellWrapper
from ..layers import Bidirectional, Recurrent, Stacked


@dataclass
class _Record:
    grads: dict[int, Tensor] = field(default_factory=dict)  # step -> per-sequence ‖∂L/∂h_t‖ (B,)
    gates: list[dict[str, Tensor]] = field(default_factory=list)  # per step: gate -> values (B, H)
    steps: int = 0


class ProbeCell(CellWrapper):
    """Records, for each step of the latest unroll, a hook on h_t's gradient and the gate values."""

    def __init__(self, cell: RecurrentCell, gates: bool = True) -> None:
        super().__init__(cell)
        self.collect_gates = gates
        self.record = _Record()

    def input_projection(self, x: Tensor) -> Tensor:
        if x.dim() >= 3:
            self.record = _Record()  # a new unroll: only the latest one is kept
        return super().input_projection(x)

    def step(self, x_proj: Tensor, state: State) -> tuple[Tensor, State]:
        record, t = self.record, self.record.steps
        if self.collect_gates:
            with torch.no_grad():
                record.gates.append({k: v.detach() for k, v in gate_activations(self.cell, x_proj, state).items()})
        h, new_state = self.cell.step(x_proj, state)
        if h.requires_grad:

            def hook(grad: Tensor, t: int = t) -> None:
                record.grads[t] = grad.detach().norm(dim=-1)  # (B,)

            h.register_hook(hook)
        record.steps += 1
        return h, new_state


def layer_name(path: str) -> str:
    """A short name for the Recurrent at module path ``path``: ``model.rnn.layers.1.backward_layer`` -> ``layer1_bwd``."""
    name = re.sub(r"(?:rnn\.)?layers\.(\d+)", r"layer\1", path.removeprefix("model."))
    name = name.replace(".forward_layer", "_fwd").replace(".backward_layer", "_bwd")
    return name.replace(".", "_") or "rnn"


class RecurrentProbe:
    """Context manager installing :class:`ProbeCell` in every ``Recurrent`` of ``model``.

    Args:
        model: any module holding seqmodels layers.
        gates: also record gate values (one extra gate computation per step, without autograd).
    """

    def __init__(self, model: nn.Module, gates: bool = True) -> None:
        self.model = model
        self.gates = gates
        self.probes: dict[str, ProbeCell] = {}
        self._restore: list[tuple[nn.Module, str, object]] = []

    def __enter__(self) -> RecurrentProbe:
        for path, module in self.model.named_modules():
            if isinstance(module, (Recurrent, Bidirectional, Stacked)) and module.backend == "torch":
                self._restore.append((module, "backend", module.backend))
                module.backend = "custom"
            if isinstance(module, Recurrent) and not isinstance(module.cell, ProbeCell):
                probe = ProbeCell(module.cell, self.gates)
                self._restore.append((module, "cell", module.cell))
                module.cell = probe
                self.probes[layer_name(path)] = probe
        return self

    def __exit__(self, *exc: object) -> None:
        for module, attr, value in reversed(self._restore):
            setattr(module, attr, value)
        self._restore.clear()

    def gradient_norms(self) -> dict[str, Tensor]:
        """Per layer, ‖∂L/∂h_t‖ for t = 0..T-1 (T,): the mean over the sequences of the per-sequence
        2-norm over the H units. Sequences whose gradient at t is exactly zero (padding past their
        length) are left out of the mean. Call after ``backward()``; layers that got no gradient are absent."""
        out = {}
        for name, probe in self.probes.items():
            grads = probe.record.grads
            if not grads:
                continue
            values = []
            for t in range(probe.record.steps):
                g = grads.get(t)
                real = g[g > 0] if g is not None else None
                values.append(real.mean() if real is not None and real.numel() else torch.zeros(()))
            out[name] = torch.stack(values).cpu()  # (T,)
        return out

    def gate_statistics(self, saturation: float = 0.1) -> dict[str, dict[str, dict[str, Tensor]]]:
        """Per layer and gate: ``mean`` (T,) gate value per step, ``saturated`` (T,) fraction of values
        below ``saturation`` or above ``1 - saturation``, each over sequences and units."""
        out: dict[str, dict[str, dict[str, Tensor]]] = {}
        for name, probe in self.probes.items():
            steps = probe.record.gates
            if not steps or not steps[0]:
                continue
            out[name] = {}
            for gate in steps[0]:
                values = torch.stack([s[gate] for s in steps])  # (T, B, H)
                saturated = (values < saturation) | (values > 1.0 - saturation)
                out[name][gate] = {
                    "mean": values.mean(dim=(1, 2)).cpu(),
                    "saturated": saturated.to(values.dtype).mean(dim=(1, 2)).cpu(),
                }
        return out
