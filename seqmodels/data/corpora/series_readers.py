"""Readers of labelled time series in three file formats, each series kept with where it came from.

Every reader returns a :class:`SeriesSet`: float64 arrays ``(T_i, F)`` (NaN where a value is
missing), one label string per series, and per series a description of where it is in the file
(``line 12``, ``id='walk-3'``, ``X[7]``), so that a bad value can be named exactly.

Formats (``format=auto`` picks one from the suffix, ``.gz`` allowed for the text formats):

``ts``   UEA/UCR ``.ts`` files (:class:`~seqmodels.data.corpora.timeseries.TsReader`); ``?`` is missing.
``csv``  (``.csv``, ``.tsv``, ``.txt``) a header row, then either
         *long*: one row per time step, a series-id column (``id_column``, or a column named ``id``)
         grouping the rows of a series (in file order, or sorted by ``time_column``), a label
         column, and the features in the other columns (or ``feature_columns``); or
         *wide*: one row per series (no id column): the label column and the
         values of a univariate series in the other columns; trailing empty cells end a shorter
         series. Empty cells, ``?``, ``NA``, ``N/A`` and ``nan`` are missing values.
``npz``  NumPy archives with ``X`` (N, T, F) or (N, T), or a 1-D object array of (T, F) / (T,)
         arrays (needs ``allow_pickle``), ``y`` (N,) labels, and optional ``lengths`` (N,) giving the
         valid steps of each padded series.
"""

from __future__ import annotations

import csv
import math
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from .base import iter_lines
from .timeseries import TsReader

FORMATS = ("auto", "ts", "csv", "npz")
SUFFIX_FORMATS = {".ts": "ts", ".csv": "csv", ".tsv": "csv", ".txt": "csv", ".npz": "npz"}
MISSING_CELLS = frozenset({"", "?", "na", "n/a", "nan"})
NPZ_KEYS = ("X", "y", "lengths")
DEFAULT_ID_COLUMN = "id"


class SeriesSet(NamedTuple):
    """The series of one file.

    series: float64 arrays (T_i, F), NaN where a value is missing;
    labels: the label string of each series;
    where: per series, where it is in the file (for messages);
    step_lines: per series, the file line of each time step (long CSV only, else None);
    declared: the labels the file declares (a ``.ts`` file's ``@classLabel``), else None;
    features: the feature names (CSV headers), else None.
    """

    series: list[np.ndarray]
    labels: list[str]
    where: list[str]
    step_lines: list[np.ndarray] | None
    declared: list[str] | None
    features: list[str] | None


def file_format(path: Path, format: str) -> str:
    """``format``, or for ``auto`` the format the suffix names (``.gz`` looked through)."""
    if format not in FORMATS:
        raise ValueError(f"format must be one of {list(FORMATS)}, got {format!r}")
    if format != "auto":
        return format
    suffix = Path(path.name[:-3] if path.name.endswith(".gz") else path.name).suffix.lower()
    if suffix not in SUFFIX_FORMATS:
        raise ValueError(
            f"{path}: cannot tell the format from the suffix {suffix or '(none)'!r} "
            f"(known: {', '.join(sorted(SUFFIX_FORMATS))}); pass format=ts, format=csv or format=npz"
        )
    return SUFFIX_FORMATS[suffix]


# ------------------------------------------------------------------------------ .ts
def read_ts_set(path: Path, encoding: str = "utf-8") -> SeriesSet:
    reader = TsReader(path, encoding, labels="required")
    series, labels = [], []
    for record in reader:
        series.append(record.values)
        labels.append(record.label or "")
    if not series:
        raise ValueError(f"{path}: no series after @data")
    where = [f"#{k} (the {_ordinal(k)} series after @data)" for k in range(1, len(series) + 1)]
    return SeriesSet(series, labels, where, None, list(reader.class_labels or ()), None)


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


# ------------------------------------------------------------------------------ CSV
def _number(cell: str, path: Path, line: int, column: str, hint: str = "") -> float:
    text = cell.strip()
    if text.lower() in MISSING_CELLS:
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{path}:{line}: column {column!r}: {text[:30]!r} is not a number{hint}") from None


def _rows(path: Path, delimiter: str, encoding: str) -> Iterator[tuple[int, list[str]]]:
    """``(line number, cells)`` of every non-blank row (a quoted cell may span lines)."""
    lines = (line for _, line in iter_lines(path, encoding))
    reader = csv.reader(lines, delimiter=delimiter)
    try:
        for cells in reader:
            if cells and any(c.strip() for c in cells):
                yield reader.line_num, cells
    except csv.Error as err:
        raise ValueError(f"{path}:{reader.line_num}: not valid CSV ({err})") from None


class SeriesRecord(NamedTuple):
    """One series of a CSV file, as :class:`CsvSeries` yields it.

    values: float64 (T, F), NaN where a cell is missing; label: its label (None when the file has no label
    column, which only ``labels="optional"`` allows); where: ``at line 12`` or ``id='walk-3'`` (for messages);
    line: the line of its (first) row; id: its series id (long layout), else None; step_lines: the line of each
    time step (long layout), else None.
    """

    values: np.ndarray
    label: str | None
    where: str
    line: int
    id: str | None
    step_lines: np.ndarray | None


class CsvSeries:
    """Streaming reader of the series of a CSV file in the long or the wide layout (module docstring).

    Iterating reads the header, then yields :class:`SeriesRecord` s in the order the series first appear. The
    layout is long when ``id_column`` is given (it must then be in the header) or, with ``id_column=None``,
    when the header has a column named ``id``; else wide. ``time_column`` and a multivariate series need the
    long layout. After the header is read, ``features`` names the value columns and ``series_id`` is the
    series-id column (None: the wide layout).

    Args:
        labels: ``required`` (training): the label column must be in the header, every label non-empty, the
            rows of a series all of one label; ``optional`` (prediction): a label column in the header is left
            out of the values and its cells are not checked, and the file may have none.
        stream: False (training): the rows of a series may be anywhere in the file and the series are yielded
            when the whole file is read. True (prediction): a long-layout series is yielded as soon as a row of
            another series follows it (bounded memory); a series whose rows are not together is an error.
    """

    def __init__(
        self,
        path: Path,
        label_column: str = "label",
        id_column: str | None = None,
        time_column: str | None = None,
        feature_columns: Sequence[str] | None = None,
        delimiter: str | None = None,
        encoding: str = "utf-8",
        labels: str = "required",
        stream: bool = False,
    ) -> None:
        if labels not in ("required", "optional"):
            raise ValueError(f"labels must be 'required' or 'optional', got {labels!r}")
        if delimiter is None:
            delimiter = "\t" if path.name.removesuffix(".gz").lower().endswith(".tsv") else ","
        self.path, self.label_column, self.id_column, self.time_column = path, label_column, id_column, time_column
        self.feature_columns = None if feature_columns is None else [str(c) for c in feature_columns]
        self.delimiter, self.encoding, self.labels, self.stream = delimiter, encoding, labels, stream
        self.features: list[str] | None = None
        self.series_id: str | None = None

    def __iter__(self) -> Iterator[SeriesRecord]:
        path, label_column, id_column, time_column = self.path, self.label_column, self.id_column, self.time_column
        rows = _rows(path, self.delimiter, self.encoding)
        first = next(rows, None)
        if first is None:
            raise ValueError(f"{path}: no rows (an empty CSV file; the first row must name the columns)")
        header_line, header = first
        header = [h.strip() for h in header]
        duplicates = sorted({h for h in header if header.count(h) > 1})
        if duplicates:
            raise ValueError(f"{path}:{header_line}: the header names columns {duplicates} more than once")
        columns = f"the columns are {header}"
        has_label = label_column in header
        if not has_label and self.labels == "required":
            raise ValueError(
                f"{path}:{header_line}: no label column {label_column!r} in the header ({columns}); "
                "name it with label_column=<column>"
            )
        if id_column is not None and id_column not in header:
            raise ValueError(
                f"{path}:{header_line}: no series-id column id_column={id_column!r} in the header ({columns}); "
                "name the column that tells the series apart, or id_column=null for a file with one row per series"
            )
        if id_column is None and DEFAULT_ID_COLUMN in header:
            id_column = DEFAULT_ID_COLUMN
        long = id_column is not None
        if time_column is not None and not long:
            raise ValueError(
                f"{path}:{header_line}: time_column={time_column!r} orders the rows of a series, which needs a "
                f"series-id column (id_column=<column>, or a column named {DEFAULT_ID_COLUMN!r}) ({columns})"
            )
        if time_column is not None and time_column not in header:
            raise ValueError(f"{path}:{header_line}: no time column {time_column!r} in the header ({columns})")
        reserved = {label_column} | ({c for c in (id_column, time_column) if c is not None} if long else set())
        if self.feature_columns is not None:
            names = self.feature_columns
            unknown = [c for c in names if c not in header]
            if unknown or not names:
                raise ValueError(
                    f"{path}:{header_line}: feature_columns {names} "
                    f"{'name columns not in the header: ' + str(unknown) if unknown else 'is empty'} ({columns})"
                )
            clash = [c for c in names if c in reserved]
            if clash:
                raise ValueError(f"{path}: feature_columns {clash} are the label, id or time column")
        else:
            names = [h for h in header if h not in reserved]
            if not names:
                raise ValueError(f"{path}:{header_line}: no value columns besides {sorted(reserved)} ({columns})")
        self.features, self.series_id = (names if long else ["value"]), id_column
        index = {h: i for i, h in enumerate(header)}
        width, delimiter = len(header), self.delimiter

        def checked(line: int, cells: list[str]) -> list[str]:
            if len(cells) != width:
                raise ValueError(
                    f"{path}:{line}: expected {width} cells separated by {delimiter!r} (as the header), "
                    f"got {len(cells)}"
                )
            return cells

        label_at = index[label_column] if has_label else None
        value_at = [index[c] for c in names]
        checked_rows = ((line, checked(line, cells)) for line, cells in rows)
        if long:
            yield from self._long(checked_rows, header, index, value_at, label_at, id_column)  # type: ignore[arg-type]
        else:
            yield from self._wide(checked_rows, names, value_at, label_at)

    def _label(self, cells: list[str], label_at: int | None, line: int) -> str | None:
        if label_at is None:
            return None
        if self.labels == "optional":
            return cells[label_at].strip()
        return _label(cells[label_at], self.path, line, self.label_column)

    def _wide(
        self, rows: Iterator[tuple[int, list[str]]], names: list[str], value_at: list[int], label_at: int | None
    ) -> Iterator[SeriesRecord]:
        path = self.path
        hint = (
            f" (this file is read one row per series, because it has no id column ({DEFAULT_ID_COLUMN!r} or "
            "id_column=<column>); for one row per time step name the series-id column with id_column=<column>)"
        )
        count = 0
        for line, cells in rows:
            end = len(value_at)
            while end > 0 and not cells[value_at[end - 1]].strip():
                end -= 1  # trailing empty cells: a shorter series
            if end == 0:
                raise ValueError(f"{path}:{line}: the series has no values (every value column is empty)")
            row = [_number(cells[value_at[j]], path, line, names[j], hint) for j in range(end)]
            label = self._label(cells, label_at, line)
            count += 1
            yield SeriesRecord(np.asarray(row, dtype=np.float64)[:, None], label, f"at line {line}", line, None, None)
        if not count:
            raise ValueError(f"{path}: a header but no series")

    def _long(
        self,
        rows: Iterator[tuple[int, list[str]]],
        header: list[str],
        index: dict[str, int],
        value_at: list[int],
        label_at: int | None,
        id_column: str,
    ) -> Iterator[SeriesRecord]:
        path, time_column = self.path, self.time_column
        id_at = index[id_column]
        time_at = index[time_column] if time_column is not None else None
        groups: dict[str, dict[str, Any]] = {}
        finished: dict[str, int] = {}  # streaming: the ids of the series already yielded, with their first line
        count = 0
        for line, cells in rows:
            key = cells[id_at].strip()
            if not key:
                raise ValueError(f"{path}:{line}: empty series id in column {id_column!r}")
            label = self._label(cells, label_at, line)
            group = groups.get(key)
            if group is None:
                if key in finished:
                    raise ValueError(
                        f"{path}:{line}: a row of series {id_column}={key!r}, whose rows began at line {finished[key]} "
                        f"and were followed by another series' rows; a file is predicted as it is read, so the rows of "
                        f"each series must be together (sort the file by {id_column!r})"
                    )
                if self.stream and groups:
                    done, previous = groups.popitem()
                    finished[done] = previous["line"]
                    count += 1
                    yield self._series(done, previous, None)
                group = groups[key] = {"label": label, "line": line, "values": [], "lines": [], "times": []}
            elif self.labels == "required" and group["label"] != label:
                raise ValueError(
                    f"{path}:{line}: series {id_column}={key!r} has label {label!r} here but {group['label']!r} at "
                    f"line {group['line']}; every row of a series must carry the same label"
                )
            group["values"].append([_number(cells[j], path, line, header[j]) for j in value_at])
            group["lines"].append(line)
            if time_at is not None:
                group["times"].append(cells[time_at].strip())
        if not groups and not count:
            raise ValueError(f"{path}: a header but no rows")
        # the times of all series are compared as numbers when every one is a number (per series when streaming)
        numeric = None if self.stream else all(_is_number(t) for g in groups.values() for t in g["times"])
        for key, group in groups.items():
            yield self._series(key, group, numeric)

    def _series(self, key: str, group: dict[str, Any], numeric_time: bool | None) -> SeriesRecord:
        """The series ``key`` from its rows, sorted by the time column (as numbers when ``numeric_time``; None:
        when every time of this series is a number)."""
        values = np.asarray(group["values"], dtype=np.float64)  # (T, F)
        lines = np.asarray(group["lines"], dtype=np.int64)
        if self.time_column is not None:
            times = group["times"]
            if numeric_time is None:
                numeric_time = all(_is_number(t) for t in times)
            keys: list[Any] = [float(t) for t in times] if numeric_time else times
            order = sorted(range(len(keys)), key=keys.__getitem__)
            for a, b in zip(order, order[1:]):
                if keys[a] == keys[b]:
                    raise ValueError(
                        f"{self.path}:{lines[b]}: series {self.series_id}={key!r} has time {times[b]!r} twice "
                        f"(lines {lines[a]} and {lines[b]}); each time step of a series must appear once"
                    )
            values, lines = values[order], lines[order]
        return SeriesRecord(values, group["label"], f"{self.series_id}={key!r}", int(group["line"]), key, lines)


def read_csv_set(
    path: Path,
    label_column: str = "label",
    id_column: str | None = None,
    time_column: str | None = None,
    feature_columns: Sequence[str] | None = None,
    delimiter: str | None = None,
    encoding: str = "utf-8",
) -> SeriesSet:
    """Read a labelled CSV file in the long or the wide layout (:class:`CsvSeries`, the module docstring)."""
    reader = CsvSeries(path, label_column, id_column, time_column, feature_columns, delimiter, encoding)
    records = list(reader)
    step_lines = [r.step_lines for r in records] if reader.series_id is not None else None
    return SeriesSet(
        [r.values for r in records],
        [r.label or "" for r in records],
        [r.where for r in records],
        step_lines,  # type: ignore[arg-type]
        None,
        reader.features,
    )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _label(cell: str, path: Path, line: int, column: str) -> str:
    label = cell.strip()
    if not label:
        raise ValueError(f"{path}:{line}: empty label in column {column!r}")
    return label


# ------------------------------------------------------------------------------ .npz
def read_npz_set(path: Path, allow_pickle: bool = False) -> SeriesSet:
    """Read ``X``, ``y`` and optional ``lengths`` from a ``.npz`` archive (see the module docstring)."""
    expected = "X (N, T, F) or (N, T) or an object array of (T, F) arrays, y (N,) labels, optional lengths (N,)"
    try:
        archive = np.load(path, allow_pickle=allow_pickle)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as err:
        raise ValueError(f"{path}: not a readable NumPy .npz archive ({err})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"{path}: a single .npy array, not a .npz archive holding {expected}")
    with archive:
        keys = list(archive.files)
        missing = [k for k in ("X", "y") if k not in keys]
        unknown = [k for k in keys if k not in NPZ_KEYS]
        if missing or unknown:
            problem = f"no array named {missing}" if missing else f"unknown arrays {unknown}"
            raise ValueError(f"{path}: {problem} (it holds {keys}); expected {expected}")
        try:
            X, y = archive["X"], archive["y"]
            lengths = archive["lengths"] if "lengths" in keys else None
        except ValueError as err:
            if "allow_pickle" not in str(err):
                raise ValueError(f"{path}: {err}") from None
            raise ValueError(
                f"{path}: X or y is an object array, which NumPy stores as a pickle (loading one can run code); "
                "pass allow_pickle=true for a file you trust, or save ragged series padded in X (N, T, F) "
                "with their lengths in 'lengths'"
            ) from None
    labels = _npz_labels(y, path)
    n = len(labels)
    if X.dtype == object:
        if X.ndim != 1:
            raise ValueError(f"{path}: an object array X must be 1-D (one (T, F) array per series), got {X.shape}")
        series = [_npz_series(x, path, i) for i, x in enumerate(X)]
    else:
        if not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.complexfloating):
            raise ValueError(f"{path}: X must hold real numbers, got dtype {X.dtype}")
        if X.ndim == 2:
            X = X[:, :, None]
        if X.ndim != 3 or X.shape[1] < 1 or X.shape[2] < 1:
            raise ValueError(f"{path}: X must be (N, T, F) or (N, T) with T, F >= 1, got shape {X.shape}")
        series = [X[i].astype(np.float64) for i in range(X.shape[0])]
    if len(series) != n:
        raise ValueError(f"{path}: X holds {len(series)} series but y has {n} labels")
    if n == 0:
        raise ValueError(f"{path}: X and y are empty (no series)")
    widths = sorted({s.shape[1] for s in series})
    if len(widths) > 1:
        first = next(i for i, s in enumerate(series) if s.shape[1] != series[0].shape[1])
        raise ValueError(f"{path}: X[{first}] has {series[first].shape[1]} features but X[0] has {series[0].shape[1]}")
    if lengths is not None:
        series = _cut(series, lengths, path)
    return SeriesSet(series, labels, [f"X[{i}]" for i in range(n)], None, None, None)


def _npz_labels(y: np.ndarray, path: Path) -> list[str]:
    if y.ndim != 1:
        raise ValueError(f"{path}: y must be 1-D (one label per series), got shape {y.shape}")
    if y.dtype.kind in "iub":
        return [str(int(v)) for v in y]
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            bad = int(np.flatnonzero(~np.isfinite(y) | (y != np.round(y)))[0])
            raise ValueError(f"{path}: y[{bad}] = {y[bad]!r}: class labels must be integers or strings")
        return [str(int(v)) for v in y]
    if y.dtype.kind in "USO":
        labels = [str(v).strip() for v in y]
        if "" in labels:
            raise ValueError(f"{path}: y[{labels.index('')}] is an empty label")
        return labels
    raise ValueError(f"{path}: y must hold integer or string labels, got dtype {y.dtype}")


def _npz_series(x: Any, path: Path, i: int) -> np.ndarray:
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{path}: X[{i}] is not an array of numbers ({type(x).__name__})") from None
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"{path}: X[{i}] must be (T, F) or (T,) with T >= 1, got shape {arr.shape}")
    return arr


def _cut(series: list[np.ndarray], lengths: np.ndarray, path: Path) -> list[np.ndarray]:
    if lengths.shape != (len(series),) or lengths.dtype.kind not in "iu":
        raise ValueError(
            f"{path}: lengths must be {len(series)} integers (one per series), got shape {lengths.shape} "
            f"dtype {lengths.dtype}"
        )
    out = []
    for i, (s, n) in enumerate(zip(series, lengths.tolist())):
        if not 1 <= n <= len(s):
            raise ValueError(f"{path}: lengths[{i}] = {n}, but X[{i}] has {len(s)} time steps (need 1 <= length <= T)")
        out.append(s[:n])
    return out


def read_series_set(
    path: Path,
    format: str = "auto",
    label_column: str = "label",
    id_column: str | None = None,
    time_column: str | None = None,
    feature_columns: Sequence[str] | None = None,
    delimiter: str | None = None,
    encoding: str = "utf-8",
    allow_pickle: bool = False,
) -> SeriesSet:
    """Read one file in ``format`` (``auto``: from the suffix)."""
    kind = file_format(path, format)
    if kind == "ts":
        return read_ts_set(path, encoding)
    if kind == "npz":
        return read_npz_set(path, allow_pickle)
    return read_csv_set(path, label_column, id_column, time_column, feature_columns, delimiter, encoding)
