"""Which ``_target_``s a configuration read from a checkpoint may name before it is instantiated.

``torch.load(weights_only=True)`` keeps a checkpoint's *pickle* from running code, but a stored
config is instantiated with Hydra (``load_model``, ``seqmodels-eval``), and a ``_target_`` is a
callable: ``{"_target_": "os.system", "command": "..."}`` or ``"subprocess.Popen"`` would run code
as surely as a pickle. So before anything from a checkpoint's config is instantiated, every
``_target_`` in it must

1. lie in a trusted module: ``seqmodels.*``, ``torch.nn.*``, ``torch.optim.*``, or a module the user
   trusts (``trusted=`` of the call, or ``SEQMODELS_TRUSTED_TARGETS=my_cell,other.pkg`` in the
   environment). This is checked on the string, before anything is imported;
2. be a class (no functions, builtins or methods); and under ``torch`` a subclass of ``nn.Module``,
   ``Optimizer`` or an LR scheduler.

Checkpoints written by a run with your own cell (``my_cell.MinimalGatedCell``) therefore need
``SEQMODELS_TRUSTED_TARGETS=my_cell`` to be loaded elsewhere; the run that wrote them trusts its own
config's targets.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

TRUSTED_MODULES = ("seqmodels", "torch.nn", "torch.optim")
TRUST_ENV = "SEQMODELS_TRUSTED_TARGETS"


def trusted_modules(extra: Iterable[str] = ()) -> tuple[str, ...]:
    """The built-in trusted modules, ``extra`` and those listed in ``$SEQMODELS_TRUSTED_TARGETS``."""
    env = [p.strip() for p in os.environ.get(TRUST_ENV, "").split(",") if p.strip()]
    return TRUSTED_MODULES + tuple(extra) + tuple(env)


def iter_targets(node: Any, where: str = "config") -> Iterator[tuple[str, Any]]:
    """``(path, value)`` of every ``_target_`` in a plain (nested dict/list) config."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "_target_":
                yield where, value
            else:
                yield from iter_targets(value, f"{where}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from iter_targets(value, f"{where}[{i}]")


def _within(name: str, modules: Iterable[str]) -> bool:
    return any(name == m or name.startswith(m.rstrip(".") + ".") for m in modules)


def check_targets(node: Any, source: str, where: str = "config", trusted: Iterable[str] = ()) -> None:
    """Raise ``ValueError`` naming ``source`` and the key unless every ``_target_`` in ``node`` is a
    trusted class (see the module docstring)."""
    import torch
    from hydra.utils import get_object

    modules = trusted_modules(trusted)
    for path, target in iter_targets(node, where):
        if not isinstance(target, str) or not target or not _within(target, modules):
            top = str(target).split(".")[0]
            raise ValueError(
                f"{source}: {path}._target_={target!r} is outside the modules a checkpoint may name "
                f"({', '.join(modules)}); instantiating it could run any code. If you trust this file, allow the "
                f"module with {TRUST_ENV}={top}"
            )
        try:
            obj = get_object(target)
        except Exception as error:
            raise ValueError(f"{source}: {path}._target_={target!r} cannot be imported ({error})") from None
        if not isinstance(obj, type):
            raise ValueError(f"{source}: {path}._target_={target!r} is a {type(obj).__name__}, not a class; refused")
        if target.startswith("torch.") and not issubclass(
            obj,
            (
                torch.nn.Module,
                torch.optim.Optimizer,
                torch.optim.lr_scheduler.LRScheduler,
                torch.optim.lr_scheduler.ReduceLROnPlateau,
            ),
        ):
            raise ValueError(f"{source}: {path}._target_={target!r} is not a module, optimizer or scheduler; refused")
