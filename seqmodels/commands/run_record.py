"""``result.json``: what a training run did, written into its run directory when it ends.

The file is plain JSON (no pickle) so that scripts — ``scripts/results.py`` builds
``docs/results.json`` and ``docs/RESULTS.md`` from these — and people can read it without seqmodels::

    {"command": "seqmodels-train experiment=ptb_word_lstm_small", "started_at": "...Z",
     "finished_at": "...Z", "wall_time_s": 1234.5, "hardware": {...}, "metrics": {"test/ppl": ...},
     "global_step": ..., "epochs": ..., "accelerator": "CPUAccelerator", "devices": 1,
     "best_model_path": ..., "last_model_path": ..., "log_dir": ..., "sample": ...}

A metric that is NaN or infinite is written as ``null``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import shlex
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch


def utc_now() -> str:
    """The current time as an ISO-8601 UTC string with a ``Z``, to the second."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def command_line(argv: list[str] | None = None) -> str:
    """The command as the user typed it: the console script's name and its arguments, shell-quoted."""
    argv = list(sys.argv if argv is None else argv)
    if not argv:
        return ""
    return " ".join([Path(argv[0]).name, *(shlex.quote(a) for a in argv[1:])])


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware() -> dict[str, Any]:
    """Where the run ran: CPU model and cores, torch's thread count, the first CUDA device when CUDA is
    available (whether the run used it is ``result.json``'s ``accelerator``), versions."""
    info: dict[str, Any] = {
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    return info


def finite_or_null(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by None (strict JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: finite_or_null(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_null(v) for v in value]
    return value


def write_result(output_dir: str | Path, result: Mapping[str, Any], started_at: str, wall_time_s: float) -> Path:
    """Write ``<output_dir>/result.json`` atomically (temporary file, then rename) and return its path."""
    path = Path(output_dir) / "result.json"
    record = {
        "command": command_line(),
        "started_at": started_at,
        "finished_at": utc_now(),
        "wall_time_s": round(float(wall_time_s), 1),
        "hardware": hardware(),
        **result,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(finite_or_null(record), indent=2, allow_nan=False) + "\n")
    os.replace(tmp, path)
    return path
