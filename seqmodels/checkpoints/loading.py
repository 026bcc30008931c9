"""Rebuild a trained network from a checkpoint alone: its stored config, encoder and weights.

:func:`load_model` instantiates the stored config's ``model`` section (``hydra.utils.instantiate``,
after :mod:`.trust` has checked every ``_target_``) and loads the weights;
:func:`load_language_model` and :func:`load_translator` also insist on the kind of network and the
encoder that sampling, scoring and translating need.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate

from ..data import TextEncoder
from ..data.translation_encoder import TranslationEncoder
from ..models import RNNLanguageModel, Seq2Seq
from .format import CHECKPOINT_KEY, load_checkpoint, model_state_dict
from .trust import check_targets

# keys of a model config that say where the network's weights start (commands/ applies them after building it),
# not constructor arguments: a stored config is rebuilt without them, so a model trained with init_from loads from
# its own checkpoint without the language model's file (defined here, the lowest layer that reads configs)
MODEL_INIT_KEYS = ("init_from", "pretrained_embeddings", "freeze_embeddings", "lm_vocabulary")


def without_init_keys(model_cfg: dict) -> dict:
    """``model_cfg`` (a plain dict) without the keys of :data:`MODEL_INIT_KEYS`."""
    return {k: v for k, v in model_cfg.items() if k not in MODEL_INIT_KEYS}


def encoder_from_dict(data: dict | None):
    """Rebuild a ``TextEncoder`` (or a ``TranslationEncoder``) from its ``to_dict()`` (None stays None)."""
    if data is None:
        return None
    if data.get("type") == "translation_encoder":  # a source/target pair (seqmodels.data.translation)
        return TranslationEncoder.from_dict(data)
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


def load_model(
    path: str | Path, map_location: str | torch.device = "cpu", trusted: Sequence[str] = (), **overrides: Any
):
    """Rebuild the trained network of a seqmodels checkpoint.

    Args:
        path: the ``.ckpt`` file.
        map_location: where the weights go (``"cpu"``, ``"cuda"``, …).
        trusted: modules (or exact targets) besides ``seqmodels``/``torch.nn``/``torch.optim`` the
            stored model config may name, e.g. ``["my_cell"]`` (see :mod:`seqmodels.checkpoints.trust`).
        overrides: values replacing or filling fields of the stored ``config["model"]``
            (e.g. ``input_size=12`` for a config that left it to the data module).

    Returns:
        ``(model, encoder, config)``: the network in eval mode with the trained weights, the
        ``TextEncoder`` (None when the task had none) and the stored resolved config (a dict).
    """
    path = Path(path)
    return model_from_checkpoint(load_checkpoint(path, map_location), path, map_location, trusted, **overrides)


def model_from_checkpoint(
    checkpoint: dict,
    path: str | Path,
    map_location: str | torch.device = "cpu",
    trusted: Sequence[str] = (),
    **overrides: Any,
):
    """:func:`load_model` on a checkpoint already read by :func:`~seqmodels.checkpoints.format.load_checkpoint`
    (for callers that also need its other entries, e.g. the task's hyper-parameters); ``path`` names it in errors."""
    path = Path(path)
    extra = checkpoint[CHECKPOINT_KEY]
    config = extra.get("config")
    if not isinstance(config, dict) or not isinstance(config.get("model"), dict) or "_target_" not in config["model"]:
        raise ValueError(
            f"{path}: the stored config has no 'model' section with a _target_ to rebuild the network from "
            "(the task was created without config=...; pass the resolved training config to the task)"
        )
    check_targets(config["model"], str(path), "config.model", trusted)  # a _target_ is code: only trusted classes
    encoder = encoder_from_dict(extra.get("encoder"))
    model_cfg = _fill_sizes(without_init_keys({**config["model"], **overrides}), checkpoint, encoder, path)
    try:
        model = instantiate(model_cfg)
    except Exception as error:
        raise ValueError(
            f"{path}: cannot rebuild the model from config['model'] ({type(error).__name__}: {error})"
        ) from error
    missing, unexpected = model.load_state_dict(model_state_dict(checkpoint), strict=False)
    if missing or unexpected:
        raise ValueError(
            f"{path}: the weights do not fit the model rebuilt from the stored config: missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}"
        )
    return model.to(map_location).eval(), encoder, config


def load_language_model(
    path: str | Path, map_location: str | torch.device = "cpu", trusted: Sequence[str] = (), **overrides: Any
):
    """:func:`load_model` for sampling and scoring: the network must be a language model with an encoder."""
    model, encoder, config = load_model(path, map_location, trusted, **overrides)
    if not isinstance(model, RNNLanguageModel):
        raise ValueError(f"{path} holds a {type(model).__name__}, not a language model (RNNLanguageModel)")
    if encoder is None:
        raise ValueError(f"{path} has no encoder (tokenizer + vocabulary) stored; sampling and scoring need one")
    return model, encoder, config


def load_translator(path: str, map_location: str | torch.device = "cpu") -> tuple[Any, Any, dict]:
    """``(model, encoder, config)`` of a translation checkpoint: the :class:`~seqmodels.models.Seq2Seq`
    in eval mode and its :class:`~seqmodels.data.translation_encoder.TranslationEncoder`."""
    model, encoder, config = load_model(path, map_location)
    if not isinstance(model, Seq2Seq):
        raise ValueError(f"{path} holds a {type(model).__name__}, not an encoder-decoder (Seq2Seq)")
    if not isinstance(encoder, TranslationEncoder):
        raise ValueError(f"{path} has no source/target encoder pair stored; was it trained with TranslationTask?")
    return model, encoder, config


__all__ = [
    "MODEL_INIT_KEYS",
    "encoder_from_dict",
    "load_language_model",
    "load_model",
    "load_translator",
    "model_from_checkpoint",
    "without_init_keys",
]
