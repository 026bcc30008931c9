"""UEA/UCR time-series classification files (the sktime ``.ts`` text format).

Format: ``#`` comment lines, ``@key value`` header lines (``@dimensions``, ``@equalLength``,
``@classLabel true c1 c2 ...``, ``@missing``), then after ``@data`` one series per line: the
dimensions separated by ``:``, the values of one dimension by ``,``, the class label last (when
``@classLabel true``). ``?`` marks a missing value (read as NaN; what becomes of it is the reader's
NaN policy, :func:`~seqmodels.data.corpora.series_files.clean_series`).

:class:`TsReader` is the one parser of the format: it streams a file a line at a time and yields
each series as it is read (training reads every series with :func:`read_ts`; ``seqmodels-predict``
reads a file of any size through it). Every error names ``file:line``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .base import ClassificationCorpus, check_split, find_file, iter_lines, require_dir
from .download import Remote, download_corpus

LABEL_MODES = ("required", "optional")


def _parse_value(token: str, path: Path, number: int) -> float:
    token = token.strip()
    if token == "?":
        return math.nan
    try:
        return float(token)
    except ValueError:
        raise ValueError(f"{path}:{number}: {token[:30]!r} is not a number") from None


class TsSeries(NamedTuple):
    """One series of a ``.ts`` file: ``values`` float64 (T, F) (NaN where the file has ``?``), its ``label``
    (None in a file without ``@classLabel true``) and the 1-based ``line`` it is on."""

    values: np.ndarray
    label: str | None
    line: int


class TsReader:
    """Streaming parser of a ``.ts`` file: iterating yields :class:`TsSeries`, one per ``@data`` line, in
    file order, reading the file a line at a time.

    Args:
        path: the file (``.gz`` decompressed on the fly).
        encoding: its text encoding.
        labels: ``required`` (training): the header must say ``@classLabel true <labels...>`` and every
            series' label must be one of them; ``optional`` (prediction): with ``@classLabel true`` the
            last ``:`` field is the label, returned unchecked; without it every field is a dimension.

    After the ``@data`` line, ``header`` holds the ``@key value`` lines (keys lower-cased) and
    ``class_labels`` the declared labels (None when the file declares none). The number of dimensions is
    ``@dimensions`` when given, else the first series'; every series must have it. Errors
    (``ValueError``) name ``file:line``: a line before ``@data`` that is not a header, ``@timeStamps
    true``, a bad ``@dimensions``, a value that is not a number (or ``?``), dimensions of different
    lengths, a wrong number of dimensions, an undeclared label (``required``), no ``@data`` line.
    """

    def __init__(self, path: str | os.PathLike[str], encoding: str = "utf-8", labels: str = "required") -> None:
        if labels not in LABEL_MODES:
            raise ValueError(f"labels must be one of {list(LABEL_MODES)}, got {labels!r}")
        self.path, self.encoding, self.labels = Path(path), encoding, labels
        self.header: dict[str, str] = {}
        self.class_labels: list[str] | None = None

    def __iter__(self) -> Iterator[TsSeries]:
        path, header = self.path, self.header
        header.clear()
        self.class_labels = None
        in_data, labelled, dims = False, False, None
        for number, line in iter_lines(path, self.encoding):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if not in_data:
                if not line.startswith("@"):
                    raise ValueError(
                        f"{path}:{number}: expected a '@key value' header line or @data, got {line[:40]!r}"
                    )
                key, _, value = line[1:].partition(" ")
                key, value = key.lower(), value.strip()
                if key != "data":
                    header[key] = value
                    if key == "timestamps" and value.lower() == "true":
                        raise ValueError(f"{path}:{number}: @timeStamps true is not supported (only plain value lists)")
                    if key == "dimensions":
                        dims = _dimensions(value, path, number)
                    continue
                in_data = True
                declared = header.get("classlabel", "false").split()
                labelled = declared[:1] == ["true"]
                if labelled:
                    self.class_labels = declared[1:]
                elif self.labels == "required":
                    raise ValueError(f"{path}: no '@classLabel true <labels...>' header: not a classification file")
                continue
            fields = line.split(":")
            label = None
            if labelled:
                label = fields.pop().strip()
                if self.labels == "required" and label not in (self.class_labels or ()):
                    raise ValueError(f"{path}:{number}: unknown label {label!r} (declared: {self.class_labels})")
            if dims is None:
                dims = len(fields)
            if len(fields) != dims:
                raise ValueError(f"{path}:{number}: expected {dims} dimensions separated by ':', got {len(fields)}")
            values = [[_parse_value(v, path, number) for v in channel.split(",")] for channel in fields]
            lengths = {len(v) for v in values}
            if len(lengths) != 1:
                raise ValueError(f"{path}:{number}: dimensions have different lengths {sorted(lengths)}")
            yield TsSeries(np.array(values, dtype=np.float64).T.copy(), label, number)  # (F, T) -> (T, F)
        if not in_data:
            raise ValueError(f"{path}: no @data line (empty or not a .ts file)")


def _dimensions(value: str, path: Path, number: int) -> int:
    try:
        dims = int(value)
    except ValueError:
        dims = 0
    if dims < 1:
        raise ValueError(f"{path}:{number}: @dimensions must be a positive integer, got {value[:30]!r}")
    return dims


def read_ts(path: Path, encoding: str = "utf-8") -> tuple[list[np.ndarray], list[str], list[str], dict[str, str]]:
    """Parse a whole labelled ``.ts`` file with :class:`TsReader` (``labels="required"``).

    Returns:
        series: list of float32 arrays (T_i, F);
        labels: the class label string of each series;
        class_labels: the labels declared by ``@classLabel`` (in declared order);
        header: the ``@key value`` lines.
    """
    reader = TsReader(path, encoding, labels="required")
    series: list[np.ndarray] = []
    labels: list[str] = []
    for record in reader:
        series.append(record.values.astype(np.float32))
        labels.append(record.label or "")
    if not series:
        raise ValueError(f"{path}: no series after @data")
    return series, labels, list(reader.class_labels or ()), dict(reader.header)


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
