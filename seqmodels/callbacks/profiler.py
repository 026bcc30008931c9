"""The trainer's profiler when nothing is profiled: Lightning's pass-through one, with a cheaper ``profile``.

Lightning wraps every hook call, every callback's hook included, in ``trainer.profiler.profile(name)``, about
120 times a training step. Its default ``PassThroughProfiler`` inherits a generator-based context manager that
costs 1.4 µs a use on this project's CPU, and several times that inside a training step, whose gradients and
optimizer state leave the caches cold for Python. ``NullProfiler.profile`` returns one shared
``contextlib.nullcontext`` (0.44 µs). It records nothing and prints no report, as the pass-through one.

``trainer.profiler=simple`` (or ``advanced``, ``pytorch``) in the config replaces it with a real profiler.
Lightning's profilers write their report to a file of their own when given ``dirpath`` and ``filename``, and
otherwise to the ``lightning`` logger, which the commands' logging config sends to the run's log file only;
:func:`report_destination` says which, for the command's closing summary.
"""

from __future__ import annotations

import contextlib
import logging
import os
from typing import Any

from lightning.pytorch.profilers import PassThroughProfiler, Profiler

_NOTHING = contextlib.nullcontext()  # re-entrant and reusable: its enter and exit do nothing


class NullProfiler(PassThroughProfiler):
    """A profiler that profiles nothing (the trainer config's default, ``configs/trainer/default.yaml``)."""

    def profile(self, action_name: str) -> Any:
        return _NOTHING


def report_destination(profiler: Any) -> str | None:
    """Where ``profiler`` puts its report at the end of a fit: its own directory (``dirpath`` with a
    ``filename``), else the files the ``lightning.pytorch.profilers`` logger's handlers write, else
    ``"the console"``; ``None`` for a profiler that reports nothing (pass-through, :class:`NullProfiler`)."""
    if not isinstance(profiler, Profiler) or isinstance(profiler, PassThroughProfiler):
        return None
    if profiler.dirpath is not None and profiler.filename:
        return str(profiler.dirpath)
    files: list[str] = []
    logger: logging.Logger | None = logging.getLogger("lightning.pytorch.profilers.profiler")
    while logger is not None:
        handlers = [h for h in logger.handlers if isinstance(h, logging.FileHandler)]
        files += [h.baseFilename for h in handlers if h.baseFilename != os.devnull]
        logger = logger.parent if logger.propagate else None
    return ", ".join(dict.fromkeys(files)) or "the console"
