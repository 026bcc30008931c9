"""Checkpoint files that are either the old one or the new one, never half of either; loads with weights_only.

Lightning's ``TorchCheckpointIO`` writes through an fsspec transaction whose temporary file lives in
the system temp folder; when that is another file system (a tmpfs ``/tmp``, a scratch disk) the
final ``shutil.move`` is a copy, and a process killed during the copy leaves a truncated
``last.ckpt`` in place of the good one. :class:`AtomicCheckpointIO` writes the new checkpoint to a
hidden temporary file *in the target folder* (``.last.ckpt.<random>.tmp``), flushes and ``fsync``s
it, and renames it over the target with ``os.replace``, atomic on POSIX and Windows. A kill at
any moment leaves the previous file untouched (and at worst a stray temporary file, which the next
save of the same checkpoint removes).

Loading always passes ``weights_only=True`` to ``torch.load``: a file whose pickle would import
or call anything is refused before any of it runs (see :mod:`seqmodels.checkpoints`).

Used by every trainer config (``seqmodels/configs/trainer/default.yaml``, ``plugins``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from ..utils.io import atomic_open


def _is_local(path: Any) -> bool:
    return "://" not in str(path) or str(path).startswith("file://")


def stale_temporaries(path: str | os.PathLike[str]) -> list[Path]:
    """Temporary files an interrupted save of ``path`` left behind (``.<name>.*.tmp`` beside it)."""
    path = Path(path)
    if not path.parent.is_dir():
        return []
    return sorted(path.parent.glob(f".{path.name}.*.tmp"))


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` with an atomic, durable save and a ``weights_only=True`` load.

    Remote paths (``s3://`` ...) go through Lightning's own transaction (object stores replace
    whole objects anyway).
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        if storage_options is not None or not _is_local(path):
            return super().save_checkpoint(checkpoint, path, storage_options)
        path = Path(str(path).removeprefix("file://"))
        for stale in stale_temporaries(path):  # a save of this file that was killed before its rename
            stale.unlink(missing_ok=True)
        with atomic_open(path) as f:
            torch.save(checkpoint, f)
        _fsync_dir(path.parent)

    def load_checkpoint(
        self,
        path: Any,
        map_location: Callable | None = lambda storage, loc: storage,
        weights_only: bool | None = None,
    ) -> dict[str, Any]:
        """``torch.load(path, weights_only=True)``; any other ``weights_only`` is refused."""
        if weights_only is False:
            raise ValueError(
                f"{path}: seqmodels loads checkpoints with weights_only=True only (plain tensors and data, "
                "no pickled code); re-save a trusted file as plain data instead"
            )
        return super().load_checkpoint(path, map_location=map_location, weights_only=True)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX; a no-op where directories cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
