"""The trainer's profiler when nothing is profiled: Lightning's pass-through one, with a cheaper ``profile``.

Lightning wraps every hook call, every callback's hook included, in ``trainer.profiler.profile(name)``, about
120 times a training step. Its default ``PassThroughProfiler`` inherits a generator-based context manager that
costs 1.4 µs a use on this project's CPU, and several times that inside a training step, whose gradients and
optimizer state leave the caches cold for Python. ``NullProfiler.profile`` returns one shared
``contextlib.nullcontext`` (0.44 µs). It records nothing and prints no report, as the pass-through one.

``trainer.profiler=simple`` (or ``advanced``, ``pytorch``) in the config replaces it with a real profiler.
"""

from __future__ import annotations

import contextlib
from typing import Any

from lightning.pytorch.profilers import PassThroughProfiler

_NOTHING = contextlib.nullcontext()  # re-entrant and reusable: its enter and exit do nothing


class NullProfiler(PassThroughProfiler):
    """A profiler that profiles nothing (the trainer config's default, ``configs/trainer/default.yaml``)."""

    def profile(self, action_name: str) -> Any:
        return _NOTHING
