"""Values read from a command line and checked, each refusal naming the key (``ckpt_path``, ``num_samples``).

Free of Lightning, so that the commands that only load a checkpoint (``seqmodels-predict``, ``-sample``,
``-score``, ``-translate``) start without importing it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf


def short(value: Any, limit: int = 80) -> str:
    text = repr(OmegaConf.to_container(value) if isinstance(value, DictConfig) else value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def int_option(cfg: DictConfig, key: str) -> int:
    """``cfg[key]`` as an int, or a ``ValueError`` naming the key."""
    value = cfg.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{key} must be an integer, got {short(value)}")
    return value


def bool_option(cfg: DictConfig, key: str, default: bool) -> bool:
    """``cfg[key]`` (``default`` when absent) as a bool, or a ``ValueError`` naming the key."""
    value = cfg.get(key, default)
    if not isinstance(value, bool):
        raise ValueError(f"{key} must be true or false, got {short(value)}")
    return value


def check_ckpt_path(path: Any, key: str = "ckpt_path") -> str:
    """``path`` as a string if it names an existing file, else a ``FileNotFoundError`` naming ``key``."""
    if path is None or not str(path).strip():
        raise ValueError(f"{key} is required: pass {key}=<path to a .ckpt file>")
    if not Path(str(path)).expanduser().is_file():
        raise FileNotFoundError(f"{key}={path}: no such file (checkpoints are in <run dir>/checkpoints/)")
    return str(Path(str(path)).expanduser())
