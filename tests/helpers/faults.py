"""Test-only callbacks that put a training run into a known state for the fault tests.

They are referenced from the command line of a ``seqmodels-train`` subprocess
(``+callbacks.stall._target_=tests.helpers.faults.StallAt``) with the repository root on ``PYTHONPATH``.
"""

from __future__ import annotations

import time
from pathlib import Path

from lightning.pytorch.callbacks import Callback


class StallAt(Callback):
    """At the end of global step ``step``, write ``marker`` and sleep (the test then kills the process).

    Lightning runs checkpoint callbacks after all others, so the checkpoint of step ``step`` (if one
    is due) is *not* written: the run is killed between two checkpoints, in the middle of an epoch.
    """

    def __init__(self, step: int, marker: str, seconds: float = 300.0) -> None:
        self.step = int(step)
        self.marker = Path(marker)
        self.seconds = float(seconds)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            self.marker.write_text(f"step {trainer.global_step} epoch {trainer.current_epoch} batch {batch_idx}\n")
            time.sleep(self.seconds)
