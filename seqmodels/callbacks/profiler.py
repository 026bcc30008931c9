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
from pathlib import Path
from typing import Any

from lightning.pytorch.profilers import PassThroughProfiler, Profiler

_NOTHING = contextlib.nullcontext()  # re-entrant and reusable: its enter and exit do nothing


class NullProfiler(PassThroughProfiler):
    """A profiler that profiles nothing (the trainer config's default, ``configs/trainer/default.yaml``)."""

    def profile(self, action_name: str) -> Any:
        return _NOTHING


def report_destination(profiler: Any) -> str | None:
    """Where ``profiler`` puts its report at the end of a fit, for the command's closing summary.

    A profiler with a ``dirpath`` and a ``filename`` writes ``<dirpath>/fit-<filename>.txt`` (Lightning adds the
    rank under DDP); otherwise its report is an INFO record of the ``lightning.pytorch.profilers`` logger, and the
    places are those of the handlers that take it (a file's path, or "the console"). ``None`` for a profiler
    that reports nothing (pass-through, :class:`NullProfiler`) or a report that no handler takes.
    """
    if not isinstance(profiler, Profiler) or isinstance(profiler, PassThroughProfiler):
        return None
    if profiler.dirpath is not None and profiler.filename:
        return str(Path(profiler.dirpath) / f"fit-{profiler.filename}.txt")
    profiler_log = logging.getLogger("lightning.pytorch.profilers.profiler")
    if not profiler_log.isEnabledFor(logging.INFO):
        return None
    logger: logging.Logger | None = profiler_log
    places: list[str] = []
    while logger is not None:
        for handler in logger.handlers:
            if handler.level > logging.INFO:
                continue
            if isinstance(handler, logging.FileHandler):
                if handler.baseFilename != os.devnull:  # a handler that writes nowhere is no place
                    places.append(handler.baseFilename)
            elif isinstance(handler, logging.StreamHandler):
                places.append("the console")
        logger = logger.parent if logger.propagate else None
    return ", ".join(dict.fromkeys(places)) or None
