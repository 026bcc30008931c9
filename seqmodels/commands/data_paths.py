"""The user's data files named by absolute path in a run's config, so that the config stored in every checkpoint
finds them again from any working directory.

``seqmodels-train experiment=sequence_classifier data.train=train.csv`` reads ``train.csv`` in the directory
the command runs in; :func:`absolute_data_paths` rewrites ``data.train``/``valid``/``test`` of the data configs
over a user's files (``seqmodels.data.from_files``) to ``/that/directory/train.csv`` before anything is built, so
that ``seqmodels-eval ckpt_path=…`` and ``seqmodels-predict`` run elsewhere read the same files. Paths that are
already absolute are kept, and so paths under ``paths.data_dir`` (made absolute first) are still moved to another
machine's ``paths.data_dir`` by ``seqmodels-eval``.
"""

from __future__ import annotations

import os
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict

FILES_TARGET = "seqmodels.data.from_files."  # the DataModules that read files the user names
FILE_KEYS = ("train", "valid", "test")


def absolute_path(value: Any) -> Any:
    """A path string (``~`` expanded) made absolute against the working directory; a list of them element by
    element; anything else (None, a number, an empty string) as it is. Globs and prefixes keep their pattern."""
    if isinstance(value, str):
        return os.path.abspath(os.path.expanduser(value)) if value.strip() else value
    if isinstance(value, (list, tuple, ListConfig)):
        return [absolute_path(v) for v in value]
    return value


def absolute_data_paths(cfg: DictConfig) -> None:
    """Make ``cfg.data.train``/``valid``/``test`` absolute (in place) when ``cfg.data`` reads the user's files."""
    data = cfg.get("data")
    if not isinstance(data, DictConfig) or not str(data.get("_target_") or "").startswith(FILES_TARGET):
        return
    with open_dict(data):
        for key in FILE_KEYS:
            if key not in data:  # absent, or ??? (left for the error that names data.train)
                continue
            value = data[key]
            plain = OmegaConf.to_container(value, resolve=True) if isinstance(value, ListConfig) else value
            data[key] = absolute_path(plain)
