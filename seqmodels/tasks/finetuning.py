"""ULMFiT's fine-tuning recipe (Howard & Ruder 2018, §3.2-3.3) as task options over the model's layer groups.

Layer groups (:func:`seqmodels.models.groups.layer_groups`) are ordered input -> output, g = 0 … G-1.

* Discriminative learning rates (``layer_lr_decay``, ULMFiT uses 2.6): group g trains at
  ``lr / decay^(G-1-g)``: the last group at the optimizer's ``lr``, each one below it ``decay`` times slower.
* Gradual unfreezing (``unfreeze``): group g trains from epoch (or optimizer step) ``start[g]`` on and is
  frozen (``requires_grad=False``: no gradient, so no optimizer update, moments and weight decay included)
  before. ``"gradual"`` is ULMFiT's schedule, ``start[g] = G-1-g``: only the last group in epoch 0, one
  more group from the top each epoch; a mapping ``{group: start}`` names its groups (the others train from 0).

The frozen set is a function of the epoch and step alone (:meth:`UnfreezeSchedule.frozen`), so a run
resumed from a checkpoint freezes the same groups as the run that saved it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

UNFREEZE_UNITS = ("epoch", "step")


def check_layer_lr_decay(value: Any) -> float | None:
    """``value`` as a float >= 1, or None; ``ValueError`` naming ``layer_lr_decay`` otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 1.0:
        raise ValueError(f"layer_lr_decay must be a number >= 1 (ULMFiT uses 2.6) or None, got {value!r}")
    return float(value)


def discriminative_lrs(lr: float, num_groups: int, decay: float) -> list[float]:
    """``[lr / decay^(G-1-g) for g in 0..G-1]``: the rate of each layer group, the last one at ``lr``."""
    return [lr / decay ** (num_groups - 1 - g) for g in range(num_groups)]


class UnfreezeSchedule:
    """When each layer group starts training.

    Args:
        spec: ``"gradual"`` (group g of G starts at G-1-g) or a mapping ``{group name: start}`` with
            starts >= 0 (groups not named start at 0).
        names: the model's layer-group names, input -> output.
        unit: ``"epoch"`` (starts count epochs, 0-based) or ``"step"`` (optimizer steps taken).

    ``frozen(epoch, step)`` lists the groups that do not train at that point, in group order.
    """

    def __init__(self, spec: Any, names: Sequence[str], unit: str = "epoch") -> None:
        if unit not in UNFREEZE_UNITS:
            raise ValueError(f"unfreeze_unit must be one of {list(UNFREEZE_UNITS)}, got {unit!r}")
        self.names = list(names)
        self.unit = unit
        if spec == "gradual":
            self.starts = {name: len(self.names) - 1 - g for g, name in enumerate(self.names)}
        elif isinstance(spec, Mapping):
            unknown = [key for key in spec if key not in self.names]
            if unknown:
                raise ValueError(
                    f"unfreeze names {', '.join(map(repr, unknown))}, not a layer group of this model; "
                    f"its groups are {', '.join(self.names)}"
                )
            for key, start in spec.items():
                if isinstance(start, bool) or not isinstance(start, int) or start < 0:
                    raise ValueError(f"unfreeze.{key} must be the first {unit} (an integer >= 0), got {start!r}")
            self.starts = {name: int(spec.get(name, 0)) for name in self.names}
            if self.starts and min(self.starts.values()) > 0:
                raise ValueError(
                    f"unfreeze leaves nothing to train at {unit} 0: give some group 0 (or leave one out), "
                    f"got {dict(spec)}"
                )
        else:
            raise ValueError(
                "unfreeze must be 'gradual', a mapping {layer group: first " + unit + "} such as "
                f"{{{self.names[-1] if self.names else 'head'}: 0, ...}}, or None; got {spec!r}"
            )

    def frozen(self, epoch: int, step: int) -> list[str]:
        """The groups still frozen during ``epoch`` at optimizer step ``step`` (0-based counters)."""
        now = epoch if self.unit == "epoch" else step
        return [name for name in self.names if self.starts[name] > now]

    def __repr__(self) -> str:
        return f"UnfreezeSchedule({self.starts}, unit={self.unit!r})"
