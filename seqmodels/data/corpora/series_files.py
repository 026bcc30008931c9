"""A user's labelled time series: one file per split in UEA ``.ts``, CSV or NumPy ``.npz``.

:class:`SeriesFiles` is a :class:`~seqmodels.data.corpora.base.ClassificationCorpus` (examples
``(float32 array (T, F), label index)``) over files given by path; the formats and their layouts
are described in :mod:`~seqmodels.data.corpora.series_readers`. It decides the label set, checks
that the splits agree (features, labels) and applies the missing-value policy ``nan``:

``error``  a NaN is refused, naming the file, the series and the time step (the default);
``zero``   a NaN becomes 0.0 (in the raw values, before any standardisation);
``ffill``  a NaN takes the last observed value of its feature in the series (leading NaNs the
           first observed one; a feature with no value at all in a series becomes 0.0);
``drop``   the time steps with a NaN in any feature are removed (a series left empty is refused).

Infinite values are always refused. The labels are ``labels`` when given (in that order; it may
name classes that no training series has), else the train ``.ts`` file's ``@classLabel`` list, else
the train labels sorted (numerically when they are all numbers). A validation or test label
outside that set is refused, naming the file and the series.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .base import ClassificationCorpus, check_split
from .series_readers import FORMATS, SeriesSet, file_format, read_series_set

NAN_POLICIES = ("error", "zero", "ffill", "drop")
SPLITS = ("train", "valid", "test")


def series_file(path: Any, key: str) -> Path:
    """``path`` as an existing, non-empty file, else an error naming ``key``."""
    if path is None or not str(path).strip():
        raise ValueError(f"{key} is required: the path of a .ts, .csv or .npz file")
    p = Path(str(path)).expanduser()
    if p.is_dir():
        raise ValueError(f"{key}={path} is a folder; give the file (.ts, .csv or .npz) itself")
    if not p.is_file():
        raise FileNotFoundError(f"{key}={path}: no such file")
    if p.stat().st_size == 0:
        raise ValueError(f"{key}={path}: the file is empty")
    return p


def natural_order(labels: Sequence[str]) -> list[str]:
    """Distinct ``labels`` sorted, numerically when every one is a number (``2`` before ``10``)."""
    distinct = sorted(set(labels))
    try:
        return sorted(distinct, key=float)
    except ValueError:
        return distinct


def fill_missing(x: np.ndarray, policy: str) -> np.ndarray:
    """``x`` (T, F) with its NaNs handled by ``policy`` (``zero``, ``ffill`` or ``drop``; see the module docstring)."""
    missing = np.isnan(x)
    if policy == "zero":
        return np.where(missing, 0.0, x)
    if policy == "drop":
        return x[~missing.any(axis=1)]
    if policy != "ffill":
        raise ValueError(f"fill_missing: policy must be zero, ffill or drop, got {policy!r}")
    T, F = x.shape
    last = np.where(missing, 0, np.arange(T)[:, None])  # (T, F): index of the step itself where observed
    np.maximum.accumulate(last, axis=0, out=last)  # index of the last observed step at or before t
    observed = ~missing
    first = observed.argmax(axis=0)  # (F,) first observed step (0 when none)
    last = np.where(observed.cumsum(axis=0) == 0, first[None, :], last)  # leading gaps: the first observed value
    out = x[last, np.arange(F)[None, :]]
    return np.where(np.isnan(out), 0.0, out)  # features never observed in the series


NAN_FIX = "; pass nan=zero, nan=ffill or nan=drop (data.nan=... on the command line) to fill or drop them"
EMPTY_FIX = "use nan=ffill or nan=zero, or remove the series"


def clean_series(
    x: np.ndarray,
    nan: str,
    subject: str,
    features: Sequence[str] | None = None,
    step_lines: np.ndarray | None = None,
    nan_fix: str = NAN_FIX,
    empty_fix: str = EMPTY_FIX,
) -> np.ndarray:
    """``x`` (T, F) as float32 with the missing-value policy ``nan`` applied (module docstring), as training
    and prediction read a series alike.

    An infinite value (or one beyond float32's range, about 3.4e38) is refused, and a NaN with ``nan=error``:
    the ``ValueError`` says ``<subject> has ... at time step t (counting from 0), feature f[, line n]; k such
    value(s) in this series<nan_fix>``, the feature by name when ``features`` names them and the line when
    ``step_lines`` gives each step's. A series that ``nan=drop`` leaves empty is refused too.
    """
    with np.errstate(over="ignore"):
        x32 = np.asarray(x, dtype=np.float32)
    infinite, missing = np.isinf(x32), np.isnan(x32)
    if infinite.any() or (missing.any() and nan == "error"):
        bad = infinite if infinite.any() else missing
        t, f = (int(v) for v in np.argwhere(bad)[0])
        feature = repr(features[f]) if features else str(f)
        line = f", line {int(step_lines[t])}" if step_lines is not None else ""
        if not infinite.any():
            kind, fix = "a missing value (NaN)", nan_fix
        elif np.isfinite(np.asarray(x, dtype=np.float64)[t, f]):
            kind, fix = "a value beyond float32's range (about 3.4e38)", ""
        else:
            kind, fix = "an infinite value", ""
        raise ValueError(
            f"{subject} has {kind} at time step {t} (counting from 0), "
            f"feature {feature}{line}; {int(bad.sum())} such value(s) in this series{fix}"
        )
    if missing.any():
        x32 = fill_missing(x32, nan).astype(np.float32)
        if len(x32) == 0:
            raise ValueError(
                f"{subject} has no time step without a missing value, so nan=drop leaves it empty; {empty_fix}"
            )
    return x32


class SeriesFiles(ClassificationCorpus):
    """Labelled time series from a train file and optional validation and test files.

    Args:
        train, valid, test: file paths (``valid``/``test`` may be None; without ``valid`` the
            DataModule holds part of train out).
        format: ``auto`` (from each file's suffix), ``ts``, ``csv`` or ``npz``.
        label_column: CSV: the column holding the class label.
        id_column: CSV: the column naming the series of each row (the long layout); it must be in
            the header. None: a column named ``id`` if there is one, else the file is read one row
            per series (the wide layout).
        time_column: CSV long layout: the rows of a series are sorted by it (numbers numerically,
            anything else, e.g. ISO dates, as text); None keeps the file order.
        feature_columns: CSV: the value columns (default: every other column).
        labels: the class labels, in order (default: see the module docstring).
        nan: ``error``, ``zero``, ``ffill`` or ``drop`` (see the module docstring).
        allow_pickle: ``.npz`` with object arrays (ragged series) are pickles: read them only when true.
        delimiter: CSV cell separator (default ``,``, or a tab for ``.tsv``).
        encoding: text encoding of ``.ts`` and CSV files.
        name: shown in messages (default: the train file's name).

    ``examples(split)`` gives ``[(float32 array (T, F), label index), ...]`` in file order;
    ``label_names``, ``num_features`` and ``feature_names`` (CSV headers, else None) describe the data.
    """

    def __init__(
        self,
        train: str | os.PathLike[str],
        valid: str | os.PathLike[str] | None = None,
        test: str | os.PathLike[str] | None = None,
        format: str = "auto",
        label_column: str = "label",
        id_column: str | None = None,
        time_column: str | None = None,
        feature_columns: Sequence[str] | None = None,
        labels: Sequence[Any] | None = None,
        nan: str = "error",
        allow_pickle: bool = False,
        delimiter: str | None = None,
        encoding: str = "utf-8",
        name: str | None = None,
    ) -> None:
        if format not in FORMATS:
            raise ValueError(f"format must be one of {list(FORMATS)}, got {format!r}")
        if nan not in NAN_POLICIES:
            raise ValueError(f"nan must be one of {list(NAN_POLICIES)}, got {nan!r}")
        if not isinstance(allow_pickle, bool):
            raise ValueError(f"allow_pickle must be true or false, got {allow_pickle!r}")
        if not isinstance(label_column, str) or not label_column:
            raise ValueError(f"label_column must be a column name, got {label_column!r}")
        if delimiter is not None and (not isinstance(delimiter, str) or len(delimiter) != 1):
            raise ValueError(f"delimiter must be one character (or null for ',' / tab for .tsv), got {delimiter!r}")
        if isinstance(feature_columns, str):
            feature_columns = [feature_columns]
        if labels is not None:
            if isinstance(labels, (str, bytes)) or not len(labels):
                raise ValueError(f"labels must be a non-empty list of class labels, got {labels!r}")
            names = [str(x) for x in labels]
            if len(set(names)) != len(names):
                raise ValueError(f"labels lists {sorted({x for x in names if names.count(x) > 1})} more than once")
        self.files = {"train": series_file(train, "train")}
        for key, value in (("valid", valid), ("test", test)):
            if value is not None:
                self.files[key] = series_file(value, key)
        for key, path in self.files.items():
            try:
                file_format(path, format)
            except ValueError as err:
                raise ValueError(f"{key}: {err}") from None
        self.splits = tuple(s for s in SPLITS if s in self.files)
        self.format = format
        self.options = {
            "label_column": label_column,
            "id_column": id_column,
            "time_column": time_column,
            "feature_columns": list(feature_columns) if feature_columns is not None else None,
            "delimiter": delimiter,
            "encoding": encoding,
            "allow_pickle": allow_pickle,
        }
        self.given_labels = [str(x) for x in labels] if labels is not None else None
        self.nan = nan
        self.name = name or self.files["train"].name
        self._data: dict[str, list[tuple[np.ndarray, int]]] | None = None
        self._label_names: tuple[str, ...] = ()
        self.feature_names: list[str] | None = None

    # ------------------------------------------------------------------ reading

    def _read(self, split: str) -> SeriesSet:
        return read_series_set(self.files[split], self.format, **self.options)  # type: ignore[arg-type]

    def _clean(self, split: str, data: SeriesSet) -> list[np.ndarray]:
        path = self.files[split]
        return [
            clean_series(
                x,
                self.nan,
                f"{path}: series {data.where[i]}",
                data.features,
                data.step_lines[i] if data.step_lines is not None else None,
            )
            for i, x in enumerate(data.series)
        ]

    def _load(self) -> dict[str, list[tuple[np.ndarray, int]]]:
        if self._data is not None:
            return self._data
        sets = {split: self._read(split) for split in self.splits}
        train = sets["train"]
        widths = {split: s.series[0].shape[1] for split, s in sets.items()}
        for split, width in widths.items():
            if width != widths["train"]:
                raise ValueError(
                    f"{self.files[split]}: its series have {width} features but those of the train file "
                    f"{self.files['train']} have {widths['train']}"
                )
        if self.given_labels is not None:
            names, source = self.given_labels, f"labels={self.given_labels}"
        elif train.declared is not None:
            names, source = train.declared, f"the @classLabel list of {self.files['train']}"
        else:
            names, source = natural_order(train.labels), "the train file's labels"
        index = {name: i for i, name in enumerate(names)}
        data = {}
        for split, s in sets.items():
            for where, label in zip(s.where, s.labels):
                if label not in index:
                    allow = (
                        " or add it to labels=[...] to allow a class without training series"
                        if split != "train"
                        else ""
                    )
                    raise ValueError(
                        f"{self.files[split]}: series {where} has label {label!r}, which is not in {source} "
                        f"({list(names)}); correct the label{allow}"
                    )
            data[split] = list(zip(self._clean(split, s), (index[label] for label in s.labels)))
        self._label_names = tuple(names)
        self.feature_names = train.features
        self._data = data
        return data

    # ------------------------------------------------------------------ interface

    @property
    def label_names(self) -> tuple[str, ...]:  # type: ignore[override]
        self._load()
        return self._label_names

    @property
    def num_features(self) -> int:
        return int(self._load()["train"][0][0].shape[1])

    def examples(self, split: str) -> list[tuple[np.ndarray, int]]:
        return list(self._load()[check_split(split, self.splits, self.name)])

    def __repr__(self) -> str:
        files = ", ".join(f"{k}={str(v)!r}" for k, v in self.files.items())
        return f"{type(self).__name__}({files})"
