"""Sentence pairs from a user's line-aligned files, named by path per split (what ``configs/data/parallel_text.yaml``
builds).

A split is either a prefix, ``data/train`` for ``data/train.<source>`` and ``data/train.<target>`` (``.gz``
allowed), or a pair ``[source file, target file]``. Line i of the source file translates line i of the
target file. Without a validation split, ``val_fraction`` of the training pairs (a seeded draw) is held out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .corpora.base import check_split, iter_lines

SPLITS = ("train", "valid", "test")


class ParallelFiles:
    """``pairs(split) -> [(source sentence, target sentence), ...]`` from per-split files (see the module docstring).

    Args:
        train, valid, test: a prefix or a ``[source file, target file]`` pair; ``valid``/``test`` may be None.
        source, target: the language suffixes of the prefix form (``de``, ``en``), also names in messages.
        val_fraction: share of the training pairs held out for validation when ``valid`` is None.
        val_seed: seeds that draw.
        encoding: of every file.
    """

    def __init__(
        self,
        train: Any,
        valid: Any = None,
        test: Any = None,
        source: str = "src",
        target: str = "tgt",
        val_fraction: float = 0.05,
        val_seed: int = 0,
        encoding: str = "utf-8",
    ) -> None:
        for key, value in (("source", source), ("target", target)):
            if not isinstance(value, str) or not value or "/" in value:
                raise ValueError(f"{key} must be a language suffix such as 'de', got {value!r}")
        if source == target:
            raise ValueError(f"source and target must differ, got {source!r} for both")
        if isinstance(val_fraction, bool) or not isinstance(val_fraction, (int, float)) or not 0 < val_fraction < 1:
            raise ValueError(f"val_fraction must be a number in (0, 1), got {val_fraction!r}")
        self.source, self.target = source, target
        self.encoding = encoding
        self.val_fraction, self.val_seed = float(val_fraction), val_seed
        self.files: dict[str, tuple[Path, Path]] = {}
        for key, entry in (("train", train), ("valid", valid), ("test", test)):
            if entry is not None or key == "train":
                self.files[key] = self._pair(key, entry)
        self.splits = tuple(s for s in SPLITS if s in self.files or s == "valid")
        self.name = self.files["train"][0].name.split(".")[0] or "parallel"
        self._cache: dict[str, list[tuple[str, str]]] = {}

    def _pair(self, key: str, entry: Any) -> tuple[Path, Path]:
        how = (
            f"a prefix (data/{key} for data/{key}.{self.source} and data/{key}.{self.target}) "
            "or a pair [source file, target file]"
        )
        if entry is None:
            raise ValueError(f"{key} is required: {how}")
        if isinstance(entry, str):
            return self._find(key, entry, self.source), self._find(key, entry, self.target)
        entry = list(entry) if not isinstance(entry, (bytes, dict)) else []
        if len(entry) != 2 or not all(isinstance(e, str) and e for e in entry):
            raise ValueError(f"{key} must be {how}, got {entry!r}")
        paths = tuple(Path(e).expanduser() for e in entry)
        for side, path in zip((self.source, self.target), paths):
            if not path.is_file():
                raise FileNotFoundError(f"{key}: the {side} file {path} does not exist")
        return paths  # type: ignore[return-value]

    @staticmethod
    def _find(key: str, prefix: str, language: str) -> Path:
        tried = [Path(f"{prefix}.{language}").expanduser(), Path(f"{prefix}.{language}.gz").expanduser()]
        for path in tried:
            if path.is_file():
                return path
        raise FileNotFoundError(f"{key}={prefix}: neither {tried[0]} nor {tried[1]} exists")

    def _read(self, split: str) -> list[tuple[str, str]]:
        source_path, target_path = self.files[split]
        sources = [line.rstrip("\r\n") for _, line in iter_lines(source_path, self.encoding)]
        targets = [line.rstrip("\r\n") for _, line in iter_lines(target_path, self.encoding)]
        if len(sources) != len(targets):
            raise ValueError(
                f"{split}: {source_path} has {len(sources)} lines but {target_path} has {len(targets)}; "
                "line i of one must translate line i of the other"
            )
        if not sources:
            raise ValueError(f"{split}: {source_path} and {target_path} are empty")
        return list(zip(sources, targets))

    def _held_out(self) -> set[int]:
        n = len(self._read_cached("train"))
        k = max(1, int(round(n * self.val_fraction)))
        if k >= n:
            raise ValueError(f"train has {n} pairs: too few to hold out a validation share (give valid files)")
        return set(np.random.default_rng(self.val_seed).permutation(n)[:k].tolist())

    def _read_cached(self, split: str) -> list[tuple[str, str]]:
        if split not in self._cache:
            self._cache[split] = self._read(split)
        return self._cache[split]

    def pairs(self, split: str) -> list[tuple[str, str]]:
        """The split's pairs in file order (a held-out validation split: in train's order)."""
        check_split(split, self.splits, self.name)
        if split in self.files and not (split == "train" and "valid" not in self.files):
            return list(self._read_cached(split))
        held = self._held_out()
        train = self._read_cached("train")
        return [p for i, p in enumerate(train) if (i in held) == (split == "valid")]

    def __repr__(self) -> str:
        files = ", ".join(f"{k}=[{s}, {t}]" for k, (s, t) in self.files.items())
        return f"{type(self).__name__}({self.source}->{self.target}: {files})"
