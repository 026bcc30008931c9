"""UEA/UCR time-series classification files (the sktime ``.ts`` text format).

Format: ``#`` comment lines, ``@key value`` header lines (``@dimensions``, ``@equalLength``,
``@classLabel true c1 c2 ...``, ``@missing``), then after ``@data`` one series per line: the
dimensions separated by ``:``, the values of one dimension by ``,``, the class label last.
``?`` marks a missing value (read as NaN). Each series becomes a float32 array ``(T, F)``:
T time steps (variable across series), F dimensions.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from .base import ClassificationCorpus, check_split, find_file, iter_lines, require_dir
from .download import Remote, download_corpus


def _parse_value(token: str, path: Path, number: int) -> float:
    token = token.strip()
    if token == "?":
        return math.nan
    try:
        return float(token)
    except ValueError:
        raise ValueError(f"{path}:{number}: {token[:30]!r} is not a number") from None


def read_ts(path: Path, encoding: str = "utf-8") -> tuple[list[np.ndarray], list[str], list[str], dict[str, str]]:
    """Parse a ``.ts`` file.

    Returns:
        series: list of float32 arrays (T_i, F);
        labels: the class label string of each series;
        class_labels: the labels declared by ``@classLabel`` (in declared order);
        header: the ``@key value`` lines.
    """
    header: dict[str, str] = {}
    class_labels: list[str] = []
    series: list[np.ndarray] = []
    labels: list[str] = []
    in_data = False
    dims: int | None = None
    for number, line in iter_lines(path, encoding):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not in_data:
            if not line.startswith("@"):
                raise ValueError(f"{path}:{number}: expected a '@key value' header line or @data, got {line[:40]!r}")
            key, _, value = line[1:].partition(" ")
            key = key.lower()
            if key == "data":
                in_data = True
                if header.get("timestamps", "false").lower() == "true":
                    raise ValueError(f"{path}:{number}: @timeStamps true is not supported (only plain value lists)")
                if header.get("classlabel", "false").split()[:1] != ["true"]:
                    raise ValueError(f"{path}: no '@classLabel true <labels...>' header: not a classification file")
                class_labels = header["classlabel"].split()[1:]
                if "dimensions" in header:
                    dims = int(header["dimensions"])
                continue
            header[key] = value.strip()
            continue
        fields = line.split(":")
        label = fields[-1].strip()
        if label not in class_labels:
            raise ValueError(f"{path}:{number}: unknown label {label!r} (declared: {class_labels})")
        channels = fields[:-1]
        if dims is None:
            dims = len(channels)
        if len(channels) != dims:
            raise ValueError(f"{path}:{number}: expected {dims} dimensions separated by ':', got {len(channels)}")
        values = [[_parse_value(v, path, number) for v in ch.split(",")] for ch in channels]
        lengths = {len(v) for v in values}
        if len(lengths) != 1:
            raise ValueError(f"{path}:{number}: dimensions have different lengths {sorted(lengths)}")
        series.append(np.asarray(values, dtype=np.float32).T.copy())  # (F, T) -> (T, F)
        labels.append(label)
    if not in_data:
        raise ValueError(f"{path}: no @data line (empty or not a .ts file)")
    if not series:
        raise ValueError(f"{path}: no series after @data")
    return series, labels, class_labels, header


class UEATimeSeries(ClassificationCorpus):
    """A UEA/UCR multivariate classification problem: ``<name>_TRAIN.ts`` and ``<name>_TEST.ts``.

    ``examples(split)`` gives ``[(float32 array (T, F), label index), ...]``; ``label_names`` are the
    ``@classLabel`` values (JapaneseVowels: ``"1"`` ... ``"9"``).

    Args:
        path: the folder with the files (or with a ``<name>/`` sub-folder holding them).
        name: the problem name, e.g. ``"JapaneseVowels"``.
        download: fetch JapaneseVowels from the sktime repository (SHA-256 checked) when ``path`` is None.
    """

    splits = ("train", "test")
    HOW = (
        "Get <name>_TRAIN.ts/<name>_TEST.ts from https://timeseriesclassification.com or the sktime package "
        "(sktime/datasets/data/<name>/), or pass download=True (JapaneseVowels only)."
    )
    _SKTIME = "https://raw.githubusercontent.com/sktime/sktime/7bd7d1620c0656f3210eeb850bb1c0034159ee47/sktime/datasets/data/JapaneseVowels"
    REMOTES = {
        "JapaneseVowels": [
            Remote(
                f"{_SKTIME}/JapaneseVowels_TRAIN.ts",
                "JapaneseVowels_TRAIN.ts",
                sha256="68a430eabd919cc77f40b1f5f3bc0dcafacc1486bca9260785aeb7d262cc78cd",
            ),
            Remote(
                f"{_SKTIME}/JapaneseVowels_TEST.ts",
                "JapaneseVowels_TEST.ts",
                sha256="b3d41d6a0ca3bcad3afb9ca7d4365382aa51341e2e58bae2a574babdda5b9462",
            ),
        ]
    }

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        name: str = "JapaneseVowels",
        download: bool = False,
        cache_dir: str | os.PathLike[str] | None = None,
        encoding: str = "utf-8",
    ) -> None:
        self.name = name
        self.encoding = encoding
        if path is None and download:
            if name not in self.REMOTES:
                raise ValueError(f"download=True knows only {sorted(self.REMOTES)}, not {name!r}. {self.HOW}")
            self.root = download_corpus(f"uea-{name}", self.REMOTES[name], cache_dir)
        else:
            self.root = require_dir(path, name, self.HOW.replace("<name>", name))
        self._cache: dict[str, tuple[list[np.ndarray], list[int]]] = {}
        self._label_names: tuple[str, ...] | None = None

    def file(self, split: str) -> Path:
        tag = check_split(split, self.splits, self.name).upper()
        fname = f"{self.name}_{tag}.ts"
        return find_file(
            self.root, (fname, f"{self.name}/{fname}"), f"{self.name} {split}", self.HOW.replace("<name>", self.name)
        )

    def _load(self, split: str) -> tuple[list[np.ndarray], list[int]]:
        if split not in self._cache:
            path = self.file(split)
            series, labels, declared, _ = read_ts(path, self.encoding)
            if self._label_names is None:
                self._label_names = tuple(declared)
            elif tuple(declared) != self._label_names:
                raise ValueError(
                    f"{path}: @classLabel {declared} differs from the other split's {list(self._label_names)}"
                )
            index = {c: i for i, c in enumerate(self._label_names)}
            self._cache[split] = (series, [index[c] for c in labels])
        return self._cache[split]

    @property
    def label_names(self) -> tuple[str, ...]:  # type: ignore[override]  # read-only: read off the files on first use
        if self._label_names is None:
            self._load("train")
        assert self._label_names is not None
        return self._label_names

    @property
    def num_features(self) -> int:
        return int(self._load("train")[0][0].shape[1])

    def examples(self, split: str) -> list[tuple[np.ndarray, int]]:
        series, labels = self._load(split)
        return list(zip(series, labels))
