"""A test-only callback that records which processes trained: one JSON file per rank.

Named from a config (``+callbacks.rank_probe._target_=tests.helpers.ranks.RecordRank``,
``+callbacks.rank_probe.directory=DIR``). Spawned DDP workers unpickle it by module path, so the
repository root must be importable in them: ``PYTHONPATH`` set to the repository root.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from lightning.pytorch.callbacks import Callback


class RecordRank(Callback):
    """At the end of fit, write ``<directory>/rank<global_rank>.json``.

    The file holds ``global_rank``, ``world_size``, ``pid`` (the worker's process id) and
    ``train_batches`` / ``train_samples``: how many training batches, and rows (the batch's first
    dimension of its first tensor, ``batch_first`` data), this process stepped through.
    """

    def __init__(self, directory: str) -> None:
        self.directory = Path(directory)
        self.batches = 0
        self.samples = 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.batches += 1
        self.samples += _rows(batch)

    def on_fit_end(self, trainer, pl_module) -> None:
        record = {
            "global_rank": trainer.global_rank,
            "world_size": trainer.world_size,
            "pid": os.getpid(),
            "train_batches": self.batches,
            "train_samples": self.samples,
        }
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / f"rank{trainer.global_rank}.json").write_text(json.dumps(record))


def _rows(batch) -> int:
    """The first dimension of the first tensor found in ``batch`` (a tensor, or nested tuples/lists/dicts)."""
    if hasattr(batch, "shape"):
        return int(batch.shape[0])
    items = batch.values() if isinstance(batch, dict) else batch if isinstance(batch, (list, tuple)) else ()
    for item in items:
        rows = _rows(item)
        if rows:
            return rows
    return 0


def read_ranks(directory: Path) -> list[dict]:
    """The records written by :class:`RecordRank` under ``directory``, by rank."""
    return sorted(
        (json.loads(p.read_text()) for p in Path(directory).glob("rank*.json")), key=lambda r: r["global_rank"]
    )
