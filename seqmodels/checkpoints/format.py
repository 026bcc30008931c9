"""Self-contained, safely loadable checkpoints.

A Lightning checkpoint written by a seqmodels task holds, besides Lightning's own entries
(``state_dict``, ``hyper_parameters``, optimizer and loop states), one entry of plain data::

    checkpoint["seqmodels"] = {
        "format_version": 1,
        "task": "seqmodels.tasks.LanguageModelingTask",   # the class that wrote it
        "config": {...},      # the resolved training config (model section with _target_), or None
        "encoder": {...},     # TextEncoder.to_dict() (tokenizer + vocabulary), or None
        "input_normalization": {"mean": [...], "std": [...]},  # real-valued inputs standardised by
                              # the data module ((x - mean) / std per feature), or None
    }

(``input_normalization`` is absent from checkpoints written before it was added: read it with ``.get``.)
A conditional language model's task adds ``"conditions"``: its fields and their values
(:meth:`seqmodels.data.conditions.Conditions.to_dict`), which name the ids its condition embeddings were trained on.

Everything in it is str/int/float/bool/None, lists and str-keyed dicts, so the whole file loads
with ``torch.load(path, weights_only=True)``: no pickled classes, no code run at load time.

:func:`load_checkpoint` reads and checks such a file; :mod:`.loading` rebuilds networks from it.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

CHECKPOINT_KEY = "seqmodels"
FORMAT_VERSION = 1


def to_plain(value: Any, where: str = "value") -> Any:
    """A copy of ``value`` made of dict (str keys) / list / str / int / float / bool / None only.

    Mappings (including OmegaConf's ``DictConfig``) become dicts, sequences other than strings
    (tuples, ``ListConfig``) become lists. Anything else raises ``ValueError`` naming the path
    inside ``where`` (e.g. ``config.model.cell``), so that an object never sneaks into a
    checkpoint that must load with ``weights_only=True``.
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{where} must have string keys, got key {key!r} ({type(key).__name__})")
            out[key] = to_plain(item, f"{where}.{key}")
        return out
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        return [to_plain(item, f"{where}[{i}]") for i, item in enumerate(value)]
    raise ValueError(
        f"{where} must hold only plain data (dict, list, str, int, float, bool, None) to be stored in a "
        f"checkpoint, got {type(value).__module__}.{type(value).__qualname__}"
    )


def checkpoint_extra(
    task: nn.Module, config: dict | None, encoder: dict | None, input_normalization: dict | None = None
) -> dict:
    """The plain-data ``checkpoint["seqmodels"]`` entry a task writes (see the module docstring)."""
    return {
        "format_version": FORMAT_VERSION,
        "task": f"{type(task).__module__}.{type(task).__qualname__}",
        "config": to_plain(config, "config"),
        "encoder": to_plain(encoder, "encoder"),
        "input_normalization": to_plain(input_normalization, "input_normalization"),
    }


# torch.load's advice to retry with weights_only=False: never passed on (it would run the file's code)
_UNSAFE_ADVICE = ("Weights only load failed", "weights_only` set to `False`", "Check the documentation of torch.load")


def _unpickler_detail(message: str) -> str:
    """The informative line of a ``torch.load`` error: the unpickler's own reason, without torch's advice
    to load with ``weights_only=False``."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    for i, line in enumerate(lines):
        if "WeightsUnpickler error:" in line:
            reason = line.split("WeightsUnpickler error:", 1)[1].strip() or (lines[i + 1] if i + 1 < len(lines) else "")
            return reason.split(" was not an allowed global")[0]
    useful = [line for line in lines if not any(advice in line for advice in _UNSAFE_ADVICE)]
    return useful[0] if useful else "unknown error"


def _refused_code(detail: str) -> bool:
    """Whether the unpickler refused a global (a class or function the file names), i.e. pickled code."""
    lowered = detail.lower()
    return "unsupported global" in lowered or ("global" in lowered and "blocked" in lowered)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Read a seqmodels checkpoint with ``torch.load(weights_only=True)`` and check its layout.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file is truncated/corrupt, holds pickled objects, was not written by a
            seqmodels task, or by a newer format version.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist (expected a .ckpt file written by seqmodels-train)")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        detail = _unpickler_detail(str(error))
        if _refused_code(detail):
            raise ValueError(
                f"{path} holds pickled Python code, which was refused and not run ({detail}); seqmodels "
                "checkpoints contain plain data only, so this file was written by something else. Do not load it "
                "unless you trust whoever made it"
            ) from None
        raise ValueError(f"{path} is not a readable PyTorch checkpoint (truncated or corrupt?): {detail}") from None
    except (
        Exception
    ) as error:  # a damaged file fails anywhere in the unpickler (IndexError, KeyError, struct.error, ...)
        raise ValueError(
            f"{path} is not a readable PyTorch checkpoint (truncated or corrupt?): {_unpickler_detail(str(error))}"
        ) from None
    if not isinstance(checkpoint, dict) or CHECKPOINT_KEY not in checkpoint:
        keys = sorted(checkpoint)[:8] if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise ValueError(
            f"{path} is a PyTorch file but not a seqmodels checkpoint: it has no {CHECKPOINT_KEY!r} entry "
            f"(found {keys}); train with seqmodels-train to get one"
        )
    extra = checkpoint[CHECKPOINT_KEY]
    version = extra.get("format_version") if isinstance(extra, dict) else None
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(
            f"{path} has checkpoint format_version={version!r}; this seqmodels reads versions up to {FORMAT_VERSION}"
        )
    if "state_dict" not in checkpoint:
        raise ValueError(f"{path} has no 'state_dict' entry (the model weights)")
    return checkpoint


def model_state_dict(checkpoint: dict, prefix: str = "model.") -> dict[str, torch.Tensor]:
    """The network's weights: the task's ``state_dict`` entries under ``prefix``, prefix stripped."""
    return {k[len(prefix) :]: v for k, v in checkpoint["state_dict"].items() if k.startswith(prefix)}


__all__ = ["CHECKPOINT_KEY", "FORMAT_VERSION", "checkpoint_extra", "load_checkpoint", "model_state_dict", "to_plain"]
