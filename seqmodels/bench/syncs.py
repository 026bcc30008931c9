"""Where ``seqmodels-train`` reads tensor values on the host during training steps, per step and per site.

On a GPU, every read of a device tensor's value from Python (``.item()``, ``bool()``, ``float()``, ``int()``,
``.tolist()``, use as an index) waits for all the work queued before it: the CPU can no longer run ahead of the
GPU, and the step's Python (Lightning's loop, the hooks, the logging) is added to the GPU's time instead of
overlapping it.
On CPU the same reads only read memory; counting them there finds those sites ahead of a GPU. Other
synchronising calls (``.cpu()``, ``.numpy()``, ``nonzero``, indexing with a boolean mask) go through no such
method: on CUDA the sync debug mode below finds them.

The command runs as users run it (the composed experiment, every default callback, the logger, the progress
bar; validation and the test pass off). After ``warmup`` steps, the next ``steps`` are watched: each read of a
tensor's value through those six methods is counted with its device and its site (the innermost frame outside
torch's own Python). Steps on which the loggers write (``step_is_logged``) are reported apart: their figures
must reach the host. On CUDA, ``torch.cuda.set_sync_debug_mode("warn")`` is also on during the watched steps,
and each synchronising call it reports (copies to the host and any other) is counted by its Python line.

    python -m seqmodels.bench.syncs --data-dir ../shared/data --experiment default conll2000_chunk_bilstm
    python -m seqmodels.bench.syncs --data-dir ../shared/data --device cuda --experiment default imdb_bilstm
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import lightning as L
import torch

from ..commands.train import train
from .training import compose_experiment, train_only

READS = ("item", "__bool__", "__float__", "__int__", "__index__", "tolist")
"""The ``torch.Tensor`` methods that hand a tensor's values to Python."""

_TORCH_DIR = os.path.dirname(torch.__file__) + os.sep
_HERE = os.path.abspath(__file__)
_WARNINGS = os.path.abspath(warnings.__file__)
SYNC_WARNING = "synchronizing CUDA operation"  # in the message of torch.cuda.set_sync_debug_mode("warn")


def _site(frame: FrameType | None) -> str:
    """``path:line (function)`` of the innermost frame outside torch's Python and this module."""
    while frame is not None:
        name = frame.f_code.co_filename
        if not name.startswith(_TORCH_DIR) and os.path.abspath(name) not in (_HERE, _WARNINGS):
            return f"{_short(name)}:{frame.f_lineno} ({frame.f_code.co_name})"
        frame = frame.f_back
    return "?"


def _short(path: str) -> str:
    for marker in ("site-packages" + os.sep, os.sep + "seqmodels" + os.sep):
        if marker in path:
            tail = path.split(marker, 1)[1]
            return tail if marker.startswith("site") else "seqmodels" + os.sep + tail
    return path


class StepWatch(L.Callback):
    """Counts the reads (and on CUDA the synchronising calls) of each watched step, from its
    ``on_train_batch_start`` to the next step's, and whether the step was logged.

    ``reads[i]``: a Counter of ``(method, device type, site)`` for watched step ``i``; ``syncs[i]``: a Counter of
    sites; ``logged[i]``: whether the task handed that step's figures to the loggers."""

    def __init__(self, warmup: int, steps: int, cuda: bool = False) -> None:
        self.warmup, self.steps, self.cuda = warmup, steps, cuda
        self.seen = 0
        self.reads: list[Counter] = []
        self.syncs: list[Counter] = []
        self.logged: list[bool] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self.warmup <= self.seen < self.warmup + self.steps:
            self.reads.append(Counter())
            self.syncs.append(Counter())
            if self.cuda:
                torch.cuda.set_sync_debug_mode("warn")
        elif self.cuda and self.seen == self.warmup + self.steps:
            torch.cuda.set_sync_debug_mode("default")
        self.seen += 1

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if len(self.logged) < len(self.reads):
            is_logged = getattr(pl_module, "step_is_logged", None)
            self.logged.append(bool(is_logged()) if callable(is_logged) else True)

    def count_read(self, method: str, tensor: torch.Tensor, frame: FrameType | None) -> None:
        if self.reads and self.seen <= self.warmup + self.steps:
            self.reads[-1][(method, tensor.device.type, _site(frame))] += 1

    def count_sync(self, site: str) -> None:
        if self.syncs and self.seen <= self.warmup + self.steps:
            self.syncs[-1][site] += 1


@contextmanager
def reads_counted(watch: StepWatch) -> Iterator[None]:
    """``torch.Tensor``'s :data:`READS` methods report each call to ``watch`` while the block runs."""
    originals = {name: getattr(torch.Tensor, name) for name in READS}

    def counted(name: str, original: Any) -> Any:
        def read(self: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
            watch.count_read(name, self, sys._getframe(1))
            return original(self, *args, **kwargs)

        return read

    for name, original in originals.items():
        setattr(torch.Tensor, name, counted(name, original))
    try:
        yield
    finally:
        for name, original in originals.items():
            setattr(torch.Tensor, name, original)


@contextmanager
def syncs_counted(watch: StepWatch) -> Iterator[None]:
    """Each warning of ``torch.cuda.set_sync_debug_mode`` goes to ``watch`` by its site (the innermost frame
    outside torch's Python), every time; every other warning is shown as usual."""
    shown = warnings.showwarning

    def show(message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
        if SYNC_WARNING in str(message):
            watch.count_sync(_site(sys._getframe(1)))
        else:
            shown(message, category, filename, lineno, file, line)

    with warnings.catch_warnings():
        warnings.filterwarnings("always", message=f".*{SYNC_WARNING}")
        warnings.showwarning = show
        try:
            yield
        finally:
            if torch.cuda.is_available():
                torch.cuda.set_sync_debug_mode("default")


def _per_step(counters: Sequence[Counter], keep: Sequence[bool]) -> dict[str, float]:
    chosen = [c for c, k in zip(counters, keep) if k]
    total: Counter = Counter()
    for c in chosen:
        total.update(c)
    n = max(len(chosen), 1)
    return {(" ".join(key) if isinstance(key, tuple) else key): count / n for key, count in total.most_common()}


def run(
    data_dir: Path,
    experiment: str,
    overrides: Sequence[str] = (),
    warmup: int | None = None,
    steps: int = 40,
    device: str = "cpu",
) -> dict:
    """Watch ``steps`` training steps of the command after ``warmup`` (default: the config's
    ``log_every_n_steps`` + 5, past the first steps, which are all logged); return the figures."""
    if steps < 1 or (warmup is not None and warmup < 0):
        raise ValueError(f"steps >= 1 and warmup >= 0 are needed; got {steps}, {warmup}")
    overrides = [*overrides, f"trainer.accelerator={'gpu' if device == 'cuda' else 'cpu'}"]
    with tempfile.TemporaryDirectory() as tmp:
        cfg = compose_experiment(experiment, overrides, data_dir, Path(tmp))
        if warmup is None:
            warmup = int(cfg.trainer.get("log_every_n_steps") or 50) + 5
        train_only(cfg, warmup + steps + 1)
        watch = StepWatch(warmup, steps, cuda=device == "cuda")
        with reads_counted(watch), syncs_counted(watch):
            train(cfg, extra_callbacks=[watch])
    if len(watch.logged) < steps:
        raise ValueError(f"the run made {watch.seen} steps; {warmup + steps + 1} are needed (a shorter --steps)")
    unlogged = [not logged for logged in watch.logged]
    return {
        "experiment": " ".join([experiment, *overrides]),
        "device": device,
        "warmup": warmup,
        "steps": steps,
        "steps_not_logged": sum(unlogged),
        "reads_per_step_not_logged": _per_step(watch.reads, unlogged),
        "reads_per_step_logged": _per_step(watch.reads, watch.logged),
        "syncs_per_step_not_logged": _per_step(watch.syncs, unlogged),
    }


def format_result(r: dict) -> str:
    reads, syncs = r["reads_per_step_not_logged"], r["syncs_per_step_not_logged"]
    on_device = sum(v for k, v in reads.items() if k.split(" ")[1] != "cpu")
    lines = [
        f"host reads, {r['experiment']}: {r['steps']} steps after {r['warmup']}, {r['steps_not_logged']} of them "
        "not logged",
        f"  per step not logged: {sum(reads.values()):.2f} reads ({on_device:.2f} of device tensors); "
        f"per logged step: {sum(r['reads_per_step_logged'].values()):.2f}",
    ]
    lines += [f"  {count:6.2f}  {key}" for key, count in reads.items()]
    if r["device"] == "cuda":
        lines.append(f"  synchronising calls per step not logged (sync debug mode): {sum(syncs.values()):.2f}")
        lines += [f"  {count:6.2f}  {key}" for key, count in syncs.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m seqmodels.bench.syncs", description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default=None, help="the data sets (default: $SEQMODELS_DATA_DIR, else ./data)")
    p.add_argument("--experiment", nargs="+", default=["default"], help="one or more (default: default)")
    p.add_argument("--override", action="append", default=[], metavar="KEY=VALUE", help="overrides of the experiment")
    p.add_argument("--steps", type=int, default=40, help="watched steps (default 40)")
    p.add_argument("--warmup", type=int, default=None, help="steps first (default: log_every_n_steps + 5)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--json", metavar="PATH", help="also write the figures as JSON to PATH")
    args = p.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: no CUDA device is available")
    data_dir = Path(args.data_dir or os.environ.get("SEQMODELS_DATA_DIR") or "data")
    results = []
    for experiment in args.experiment:
        r = run(data_dir, experiment, args.override, args.warmup, args.steps, args.device)
        print(format_result(r), flush=True)
        results.append(r)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
