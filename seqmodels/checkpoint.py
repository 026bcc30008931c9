"""Self-contained, safely loadable checkpoints.

A Lightning checkpoint written by a seqmodels task holds, besides Lightning's own entries
(``state_dict``, ``hyper_parameters``, optimizer and loop states), one entry of plain data::

    checkpoint["seqmodels"] = {
        "format_version": 1,
        "task": "seqmodels.tasks.LanguageModelingTask",   # the class that wrote it
        "config": {...},      # the resolved training config (model section with _target_), or None
        "encoder": {...},     # TextEncoder.to_dict() (tokenizer + vocabulary), or None
    }

Everything in it is str/int/float/bool/None, lists and str-keyed dicts, so the whole file loads
with ``torch.load(path, weights_only=True)``: no pickled classes, no code run at load time.

:func:`load_checkpoint` reads and checks such a file; :func:`load_model` rebuilds the network
from the stored config (``hydra.utils.instantiate`` of its ``model`` section: this module is
wiring, like ``train.py``) and loads the weights; :func:`load_language_model` also insists the
network is a language model and the encoder is present, as sampling and scoring need.
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


def checkpoint_extra(task: nn.Module, config: dict | None, encoder: dict | None) -> dict:
    """The plain-data ``checkpoint["seqmodels"]`` entry a task writes (see the module docstring)."""
    return {
        "format_version": FORMAT_VERSION,
        "task": f"{type(task).__module__}.{type(task).__qualname__}",
        "config": to_plain(config, "config"),
        "encoder": to_plain(encoder, "encoder"),
    }


def _unpickler_detail(message: str) -> str:
    """The informative line of a ``torch.load`` error (the unpickler's own reason when it gave one)."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    for i, line in enumerate(lines):
        if "WeightsUnpickler error:" in line:
            reason = line.split("WeightsUnpickler error:", 1)[1].strip() or (lines[i + 1] if i + 1 < len(lines) else "")
            return reason.split(" was not an allowed global")[0]
    return lines[0] if lines else "unknown error"


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
        if "Unsupported global" in detail:
            raise ValueError(
                f"{path} holds pickled Python objects that weights_only=True refuses to load ({detail}); "
                "seqmodels checkpoints contain plain data only, so this file was written by something else"
            ) from None
        raise ValueError(f"{path} is not a readable PyTorch checkpoint (truncated or corrupt?): {detail}") from None
    except Exception as error:  # a damaged file fails anywhere in the unpickler (IndexError, KeyError, struct.error, ...)
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
    return {k[len(prefix):]: v for k, v in checkpoint["state_dict"].items() if k.startswith(prefix)}


def encoder_from_dict(data: dict | None):
    """Rebuild a ``TextEncoder`` (or a ``TranslationEncoder``) from its ``to_dict()`` (None stays None)."""
    if data is None:
        return None
    if data.get("type") == "translation_encoder":  # a source/target pair (seqmodels.data.translation)
        from .data.translation import TranslationEncoder

        return TranslationEncoder.from_dict(data)
    from .data import TextEncoder

    return TextEncoder.from_dict(data)


def _fill_sizes(model_cfg: dict, checkpoint: dict, encoder, path: Path) -> dict:
    """Sizes training took from the data module (``null`` in the stored config), recovered here.

    ``vocab_size`` comes from the encoder's vocabulary (token inputs: ``input_size`` unset),
    ``num_classes`` from the task's hyper-parameters. Anything still unset raises ``ValueError``.
    """
    cfg = dict(model_cfg)
    if "vocab_size" in cfg and cfg["vocab_size"] is None and cfg.get("input_size") is None:
        if encoder is None:
            raise ValueError(
                f"{path}: the stored model config leaves vocab_size and input_size unset and the checkpoint has "
                "no encoder; pass input_size=<features> (real-valued inputs) to load_model"
            )
        cfg["vocab_size"] = len(encoder.vocab)
    if "num_classes" in cfg and cfg["num_classes"] is None:
        num_classes = (checkpoint.get("hyper_parameters") or {}).get("num_classes")
        if num_classes is None:
            raise ValueError(f"{path}: the stored model config leaves num_classes unset and the task did not record it")
        cfg["num_classes"] = num_classes
    return cfg


def load_model(path: str | Path, map_location: str | torch.device = "cpu", trusted: Sequence[str] = (), **overrides: Any):
    """Rebuild the trained network of a seqmodels checkpoint.

    Args:
        path: the ``.ckpt`` file.
        map_location: where the weights go (``"cpu"``, ``"cuda"``, …).
        trusted: modules (or exact targets) besides ``seqmodels``/``torch.nn``/``torch.optim`` the
            stored model config may name, e.g. ``["my_cell"]`` (see :mod:`seqmodels.trust`).
        overrides: values replacing or filling fields of the stored ``config["model"]``
            (e.g. ``input_size=12`` for a config that left it to the data module).

    Returns:
        ``(model, encoder, config)``: the network in eval mode with the trained weights, the
        ``TextEncoder`` (None when the task had none) and the stored resolved config (a dict).
    """
    from hydra.utils import instantiate

    path = Path(path)
    checkpoint = load_checkpoint(path, map_location)
    extra = checkpoint[CHECKPOINT_KEY]
    config = extra.get("config")
    if not isinstance(config, dict) or not isinstance(config.get("model"), dict) or "_target_" not in config["model"]:
        raise ValueError(
            f"{path}: the stored config has no 'model' section with a _target_ to rebuild the network from "
            "(the task was created without config=...; pass the resolved training config to the task)"
        )
    from .trust import check_targets

    check_targets(config["model"], str(path), "config.model", trusted)  # a _target_ is code: only trusted classes
    encoder = encoder_from_dict(extra.get("encoder"))
    model_cfg = _fill_sizes({**config["model"], **overrides}, checkpoint, encoder, path)
    try:
        model = instantiate(model_cfg)
    except Exception as error:
        raise ValueError(f"{path}: cannot rebuild the model from config['model'] ({type(error).__name__}: {error})") from error
    missing, unexpected = model.load_state_dict(model_state_dict(checkpoint), strict=False)
    if missing or unexpected:
        raise ValueError(
            f"{path}: the weights do not fit the model rebuilt from the stored config: missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}"
        )
    return model.to(map_location).eval(), encoder, config


def load_language_model(path: str | Path, map_location: str | torch.device = "cpu", trusted: Sequence[str] = (), **overrides: Any):
    """:func:`load_model` for sampling and scoring: the network must be a language model with an encoder."""
    from .models import RNNLanguageModel

    model, encoder, config = load_model(path, map_location, trusted, **overrides)
    if not isinstance(model, RNNLanguageModel):
        raise ValueError(f"{path} holds a {type(model).__name__}, not a language model (RNNLanguageModel)")
    if encoder is None:
        raise ValueError(f"{path} has no encoder (tokenizer + vocabulary) stored; sampling and scoring need one")
    return model, encoder, config


__all__ = [
    "CHECKPOINT_KEY",
    "FORMAT_VERSION",
    "to_plain",
    "checkpoint_extra",
    "load_checkpoint",
    "load_model",
    "load_language_model",
    "model_state_dict",
    "encoder_from_dict",
]
