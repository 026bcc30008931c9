"""Resuming a run exactly where a checkpoint left it, and refusing checkpoints that cannot continue it.

A checkpoint written by a seqmodels task holds, besides the weights and Lightning's optimizer and
loop state:

* ``checkpoint["seqmodels_rng"]``: the global random states (torch CPU, CUDA when present, NumPy,
  Python ``random``) at the moment of the save, as tensors and ints. The task puts them back at
  ``on_train_start`` of the resumed run, so dropout masks continue the same sequence.
* ``checkpoint["seqmodels_state"]``: the task's carried state (the language model's hidden state
  between truncated-BPTT batches), as tensors.
* ``checkpoint[<DataModule class>]["train_loader"]``: the training loader's position (pass number
  and batches consumed; see :class:`~seqmodels.data.resumable.ResumableDataLoader`).

Everything is plain data and tensors: the file still loads with ``torch.load(weights_only=True)``.

:func:`resolve_ckpt_path` turns ``ckpt_path=last`` into the run's ``last.ckpt``;
:func:`check_resume` checks that a checkpoint (read with ``weights_only=True`` before Lightning sees
it) can continue this run: the same task class, the same parameter shapes, the same vocabulary.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

RNG_KEY = "seqmodels_rng"
STATE_KEY = "seqmodels_state"
LAST = "last"


# ---------------------------------------------------------------------------- random states
def rng_state() -> dict[str, Any]:
    """The global random states as tensors/ints/floats (``torch.load(weights_only=True)``-safe)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "kind": str(kind),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "gauss": float(gauss),
        },
        "python": {"version": int(version), "internal": list(internal), "gauss_next": gauss_next},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Put back the states saved by :func:`rng_state` (CUDA only when this run has as many devices)."""
    torch.set_rng_state(state["torch"].cpu())
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["internal"]), p["gauss_next"]))
    cuda = state.get("cuda")
    if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in cuda])


# ---------------------------------------------------------------------------- which file
def default_checkpoint_dir(cfg: Any) -> Path:
    """Where this run's ``ModelCheckpoint`` writes (``callbacks.model_checkpoint.dirpath``), else
    ``<paths.output_dir>/checkpoints``."""
    callbacks = cfg.get("callbacks") or {}
    node = callbacks.get("model_checkpoint") if hasattr(callbacks, "get") else None
    dirpath = node.get("dirpath") if node is not None else None
    return Path(str(dirpath)) if dirpath else Path(str(cfg.paths.output_dir)) / "checkpoints"


def resolve_ckpt_path(value: Any, cfg: Any) -> str | None:
    """``ckpt_path`` as a file name: ``last`` is this run's ``<checkpoint dir>/last.ckpt``.

    Raises ``FileNotFoundError`` naming the path when the file is absent (``last`` included: a run
    resumed with ``ckpt_path=last`` must write to the same folder as the interrupted one, so give
    both the same ``hydra.run.dir``).
    """
    if value is None or not str(value).strip():
        return None
    if str(value) == LAST:
        path = default_checkpoint_dir(cfg) / "last.ckpt"
        if not path.is_file():
            raise FileNotFoundError(
                f"ckpt_path=last: {path} does not exist. 'last' means this run's own last.ckpt, so the run directory "
                "must be the interrupted run's: pass the same hydra.run.dir=<dir> to both (Hydra otherwise makes a "
                "new timestamped directory), or give ckpt_path=<path to a .ckpt file>"
            )
        return str(path)
    path = Path(str(value)).expanduser()
    if path.is_dir():
        raise ValueError(f"ckpt_path={value} is a directory; give a .ckpt file inside it (e.g. {path / 'last.ckpt'})")
    if not path.is_file():
        raise FileNotFoundError(f"ckpt_path={value}: no such file (checkpoints are in <run dir>/checkpoints/)")
    return str(path)


# ---------------------------------------------------------------------------- can it continue?
def _qualname(obj: Any) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def describe_encoder(encoder: Mapping[str, Any] | None) -> str:
    if not isinstance(encoder, Mapping):
        return "none"
    vocab = encoder.get("vocab") or {}
    tokens = vocab.get("itos") if isinstance(vocab, Mapping) else None
    tokenizer = (
        (encoder.get("tokenizer") or {}).get("type", "?") if isinstance(encoder.get("tokenizer"), Mapping) else "?"
    )
    return f"{len(tokens) if tokens is not None else '?'} tokens, {tokenizer} tokenizer"


def check_resume(path: str, checkpoint: Mapping[str, Any], task: torch.nn.Module) -> None:
    """Check that training ``task`` can continue from ``checkpoint`` (read from ``path`` by
    :func:`seqmodels.checkpoints.load_checkpoint`, i.e. with ``weights_only=True``).

    Raises ``ValueError`` naming the file when it was written by another task class, has
    parameters of other names or shapes, or was trained with another vocabulary/tokenizer.
    """
    from .format import CHECKPOINT_KEY

    extra = checkpoint[CHECKPOINT_KEY]
    written_by, this = extra.get("task"), _qualname(task)
    if written_by and written_by != this:
        raise ValueError(
            f"{path} was written by {written_by}, but this run trains {this}: a checkpoint can only resume the "
            "task that wrote it (pick the experiment it was trained with, or start without ckpt_path)"
        )
    ours = getattr(task, "encoder_dict", None)
    theirs = extra.get("encoder")
    if ours is not None and theirs is not None and ours != theirs:
        raise ValueError(
            f"{path}: the checkpoint's vocabulary/tokenizer ({describe_encoder(theirs)}) differs from this run's data "
            f"({describe_encoder(ours)}): token ids would mean different tokens. Resume with the data and data "
            "settings the checkpoint was trained with"
        )
    expected = task.state_dict()
    stored = checkpoint["state_dict"]
    missing = [k for k in expected if k not in stored]
    unexpected = [k for k in stored if k not in expected]
    if missing or unexpected:
        raise ValueError(
            f"{path}: its parameters do not match this run's model: missing {missing[:4]}, unexpected {unexpected[:4]} "
            "(the model config differs from the one the checkpoint was trained with)"
        )
    for key, value in expected.items():
        if tuple(stored[key].shape) != tuple(value.shape):
            raise ValueError(
                f"{path}: parameter {key} has shape {tuple(stored[key].shape)} in the checkpoint but "
                f"{tuple(value.shape)} in this run's model: the model config (sizes, vocabulary) differs from the "
                "one the checkpoint was trained with"
            )
