"""Reading the inputs of a prediction from a file, one example at a time (never the whole file).

:func:`read_examples` yields :class:`Example` s lazily, in file order, so that a file of any size is
predicted in batches with bounded memory. Formats (``fmt``; by default from the file's suffix, a
``.gz`` suffix being decompressed on the fly and looked past):

=========  ==========================  =========================================================
format     suffixes                    one example is
=========  ==========================  =========================================================
``text``   ``.txt`` and any other      a line (its text; the line end removed)
``csv``    ``.csv``                    a row after the header row; the text in ``text_column``
``tsv``    ``.tsv``                    the same, tab-separated, no quoting
``jsonl``  ``.jsonl``, ``.ndjson``     a line holding a JSON object; the text (or, for a tagger,
                                       a list of tokens) under ``text_column``
``conll``  ``.conll``                  a sentence: token rows of whitespace-separated columns, a
                                       blank line between sentences (the tagging corpora's format)
``npz``    ``.npz``                    a row of the array ``inputs`` (or ``X``) (N, T, F), with
                                       optional ``lengths`` (N,) giving each series' true length
                                       (labels ``y`` are ignored)
``npy``    ``.npy``                    a row of the array (N, T, F), all of length T
``ts``     ``.ts``                     a series of a UEA/UCR ``.ts`` file (dimensions separated by
                                       ``:``, values by ``,``; a class label after the last ``:``
                                       when ``@classLabel true``, ignored), read by the training
                                       parser :class:`~seqmodels.data.corpora.timeseries.TsReader`
=========  ==========================  =========================================================

A model of real-valued series reads its files with :func:`read_series` instead: the training reader's
formats (``.ts``; CSV with a row per time step and a series-id column, or a row per series, through
:class:`~seqmodels.data.corpora.series_readers.CsvSeries`; ``.npz`` with ``X`` (N, T, F) or (N, T)) and
``.npy``, each series yielded as soon as it is read.

``text_column`` None takes ``text``, else ``sentence``, else the only column. Blank examples (an
empty or whitespace-only line or text) raise ``ValueError`` naming ``file:line`` unless
``skip_empty``: then they are left out, and the outputs' ``line`` fields still say which line each
prediction belongs to. Every problem names the file and the line (or the row of an array).
"""

from __future__ import annotations

import csv
import json
import math
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any, NamedTuple

import numpy as np

from ..data.corpora.base import open_binary
from ..data.corpora.series_readers import CsvSeries
from ..data.corpora.timeseries import TsReader

FORMATS = ("text", "csv", "tsv", "jsonl", "conll", "npz", "npy", "ts")
SUFFIXES = {
    ".txt": "text",
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".conll": "conll",
    ".npz": "npz",
    ".npy": "npy",
    ".ts": "ts",
}
SERIES_FORMATS = ("npz", "npy", "ts")
SERIES_READ = ("ts", "csv", "tsv", "npz", "npy")  # what read_series reads
SERIES_SUFFIXES = {".ts": "ts", ".csv": "csv", ".tsv": "tsv", ".txt": "csv", ".npz": "npz", ".npy": "npy"}
TEXT_COLUMNS = ("text", "sentence")
_ROWS_PER_READ = 256  # rows of an array read from a file at a time


class Example(NamedTuple):
    """One input read from a file.

    ``value``: a string (text formats), a tuple of token rows, each a tuple of column strings
    (``conll``), a list of token strings (``jsonl`` with a list), or a float32 array (T, F) (series).
    ``where``: ``file:line`` or ``file[row]``, for error messages. ``position``: what the output record
    gets to say where its input was, ``{"line": n}`` (1-based), with ``"id"`` for a series of a CSV file with a
    series-id column, or ``{"index": i}`` (0-based array row). ``lines``: per time step of a series read from
    rows of a CSV file, the line of each step (for messages), else None.
    """

    value: Any
    where: str
    position: dict[str, Any]
    lines: Any = None


def input_format(path: str | Path, fmt: str | None = None) -> str:
    """``fmt`` checked, or the format of ``path``'s suffix (``.gz`` looked past; unknown suffixes: ``text``)."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {list(FORMATS)} or null (from the file's suffix), got {fmt!r}")
        return fmt
    path = Path(path)
    suffix = Path(path.stem).suffix if path.suffix == ".gz" else path.suffix
    return SUFFIXES.get(suffix.lower(), "text")


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise FileNotFoundError(f"input_file={path}: no such file")


def _lines(path: Path, encoding: str) -> Iterator[tuple[int, str]]:
    """``(line number, line without its end)`` of a text or ``.gz`` file; undecodable bytes name the line."""
    with open_binary(path) as f:
        for number, raw in enumerate(f, 1):
            try:
                text = raw.decode(encoding)
            except UnicodeDecodeError as err:
                raise ValueError(
                    f"{path}:{number}: cannot decode byte(s) {err.object[err.start : err.end]!r} as {encoding!r} "
                    f"({err.reason}); give the file's encoding, e.g. encoding=latin-1"
                ) from None
            yield number, text.rstrip("\r\n")


def _blank(value: Any) -> bool:
    return (isinstance(value, str) and not value.strip()) or (isinstance(value, (list, tuple)) and not value)


def _nonblank(examples: Iterable[Example], skip_empty: bool) -> Iterator[Example]:
    for example in examples:
        if _blank(example.value):
            if skip_empty:
                continue
            raise ValueError(
                f"{example.where}: empty input; remove the line or pass skip_empty=true to leave blank inputs out "
                "(each output line keeps the input's line number)"
            )
        yield example


def _pick_column(names: list[str], wanted: str | None, where: str) -> str:
    if wanted is not None:
        if wanted not in names:
            raise ValueError(f"{where}: no column {wanted!r} (the columns are {names}); pass text_column=<name>")
        return wanted
    for name in TEXT_COLUMNS:
        if name in names:
            return name
    if len(names) == 1:
        return names[0]
    raise ValueError(f"{where}: which column holds the text? The columns are {names}; pass text_column=<name>")


def _text_lines(path: Path, encoding: str) -> Iterator[Example]:
    for number, line in _lines(path, encoding):
        yield Example(line, f"{path}:{number}", {"line": number})


def _table(path: Path, encoding: str, text_column: str | None, delimiter: str) -> Iterator[Example]:
    lines = (line + "\n" for _, line in _lines(path, encoding))
    if delimiter == "\t":
        reader = csv.reader(lines, delimiter=delimiter, quoting=csv.QUOTE_NONE)
    else:
        reader = csv.reader(lines, delimiter=delimiter, quoting=csv.QUOTE_MINIMAL)
    header = next(reader, None)
    if header is None:
        raise ValueError(f"{path}: empty file (a header row naming the columns comes first)")
    column = header.index(_pick_column(header, text_column, f"{path}:1"))
    for row in reader:
        where = f"{path}:{reader.line_num}"
        if not row:  # a blank line
            yield Example("", where, {"line": reader.line_num})
            continue
        if len(row) != len(header):
            raise ValueError(f"{where}: {len(row)} fields, but the header names {len(header)} columns")
        yield Example(row[column], where, {"line": reader.line_num})


def _jsonl(path: Path, encoding: str, text_column: str | None) -> Iterator[Example]:
    for number, line in _lines(path, encoding):
        where = f"{path}:{number}"
        if not line.strip():
            yield Example("", where, {"line": number})
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{where}: not a JSON object ({error.msg} at column {error.colno})") from None
        if not isinstance(record, dict):
            raise ValueError(f"{where}: expected a JSON object with a text field, got {type(record).__name__}")
        value = record.get(_pick_column(list(record), text_column, where))
        if not isinstance(value, str) and not (isinstance(value, list) and all(isinstance(t, str) for t in value)):
            raise ValueError(
                f"{where}: the text must be a string (or, for a tagger, a list of token strings), got {value!r}"
            )
        yield Example(value, where, {"line": number})


def _conll(path: Path, encoding: str) -> Iterator[Example]:
    rows: list[tuple[str, ...]] = []
    first = 0
    for number, line in _lines(path, encoding):
        columns = tuple(line.split())
        if not columns:
            if rows:
                yield Example(tuple(rows), f"{path}:{first}", {"line": first})
            rows = []
            continue
        if columns[0] == "-DOCSTART-":
            continue
        if not rows:
            first = number
        elif len(columns) != len(rows[0]):
            raise ValueError(
                f"{path}:{number}: {len(columns)} columns, but the sentence's first row has {len(rows[0])}"
            )
        rows.append(columns)
    if rows:
        yield Example(tuple(rows), f"{path}:{first}", {"line": first})


def _array_header(f: IO[bytes], where: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of the ``.npy`` stream ``f``, left at the first data byte."""
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(f)
    elif version == (2, 0):
        shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(f)
    else:
        raise ValueError(f"{where}: .npy format version {version} is not read here; save it with numpy.save")
    if dtype.hasobject:
        raise ValueError(f"{where}: an array of Python objects (pickled) is refused; save numbers (float32)")
    if fortran_order and len(shape) > 1:
        raise ValueError(f"{where}: stored in Fortran order; save numpy.ascontiguousarray(x) instead")
    return shape, dtype


def _array_rows(f: IO[bytes], shape: tuple[int, ...], dtype: np.dtype, where: str) -> Iterator[np.ndarray]:
    """The rows ``x[i]`` of the array whose data ``f`` is at, a few hundred rows read at a time."""
    row_shape = shape[1:]
    row_bytes = dtype.itemsize * math.prod(row_shape)
    left = shape[0]
    while left:
        count = min(left, _ROWS_PER_READ)
        data = f.read(row_bytes * count)
        if len(data) != row_bytes * count:
            raise ValueError(f"{where}: the file ends before the array's {shape[0]} rows (truncated?)")
        yield from np.frombuffer(data, dtype=dtype).reshape(count, *row_shape)
        left -= count


def _check_series_array(shape: tuple[int, ...], where: str, univariate: bool = False) -> None:
    """An (N, T, F) array, or with ``univariate`` also (N, T) (one feature, as the training ``.npz`` reader takes)."""
    if len(shape) == 2 and univariate:
        return
    if len(shape) != 3:
        raise ValueError(
            f"{where}: the array must be (N, T, F) — N series of T steps with F features — got shape {shape}"
            + ("; for one feature per step save x[..., None]" if len(shape) == 2 else "")
        )


def _series_key(names: list[str], where: str) -> str:
    """The series array of an ``.npz``: ``inputs``, else ``X`` (the training files' name), else the only one
    besides ``lengths`` (and the labels ``y``)."""
    for key in ("inputs", "X"):
        if key in names:
            return key
    others = [n for n in names if n not in ("lengths", "y")]
    if len(others) != 1:
        raise ValueError(f"{where}: holds arrays {names}; name the series array 'inputs' (numpy.savez(f, inputs=x))")
    return others[0]


def _npz(path: Path) -> Iterator[Example]:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise ValueError(f"{path}: not a .npz file (numpy.savez writes a zip archive)") from None
    with archive:
        names = [n[:-4] for n in archive.namelist() if n.endswith(".npy")]
        key = _series_key(names, str(path))
        lengths = None
        if "lengths" in names:
            with archive.open("lengths.npy") as f:
                lshape, ldtype = _array_header(f, f"{path}[lengths]")
                lengths = np.frombuffer(f.read(), dtype=ldtype)
        with archive.open(f"{key}.npy") as f:
            where = f"{path}[{key}]"
            shape, dtype = _array_header(f, where)
            _check_series_array(shape, where, univariate=True)
            if lengths is not None:
                if lengths.shape != (shape[0],) or not np.issubdtype(lengths.dtype, np.integer):
                    raise ValueError(
                        f"{path}: 'lengths' must be {shape[0]} integers, one per series, "
                        f"got {lengths.shape} {lengths.dtype}"
                    )
                bad = np.flatnonzero((lengths < 1) | (lengths > shape[1]))
                if bad.size:
                    raise ValueError(
                        f"{path}[lengths][{bad[0]}]: length {lengths[bad[0]]} is outside [1, T={shape[1]}]"
                    )
            for i, row in enumerate(_array_rows(f, shape, dtype, where)):
                n = int(lengths[i]) if lengths is not None else shape[1]
                value = np.array(row[:n], dtype=np.float32)
                yield Example(value[:, None] if value.ndim == 1 else value, f"{path}[{i}]", {"index": i})


def _npy(path: Path) -> Iterator[Example]:
    with open(path, "rb") as f:
        shape, dtype = _array_header(f, str(path))
        _check_series_array(shape, str(path))
        for i, row in enumerate(_array_rows(f, shape, dtype, str(path))):
            yield Example(np.array(row, dtype=np.float32), f"{path}[{i}]", {"index": i})


def _ts(path: Path, encoding: str) -> Iterator[Example]:
    for series in TsReader(path, encoding, labels="optional"):  # a class label, if any, is not an input
        yield Example(series.values.astype(np.float32), f"{path}:{series.line}", {"line": series.line})


def _series_csv(path: Path, encoding: str, delimiter: str | None, columns: dict[str, Any]) -> Iterator[Example]:
    reader = CsvSeries(path, delimiter=delimiter, encoding=encoding, labels="optional", stream=True, **columns)
    for series in reader:
        if series.id is None:  # one row per series
            yield Example(series.values, f"{path}:{series.line}", {"line": series.line})
        else:
            where = f"{path}:{series.line} (series {reader.series_id}={series.id!r})"
            yield Example(series.values, where, {"line": series.line, "id": series.id}, series.step_lines)


def read_examples(
    path: str | Path,
    fmt: str | None = None,
    text_column: str | None = None,
    skip_empty: bool = False,
    encoding: str = "utf-8",
) -> Iterator[Example]:
    """The examples of ``path`` in file order, read lazily (see the module docstring for the formats).

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` naming ``file:line`` (or
    ``file[row]``) for anything unreadable, as the iteration reaches it.
    """
    path = Path(path).expanduser()
    fmt = input_format(path, fmt)
    _check_file(path)
    readers = {
        "text": lambda: _text_lines(path, encoding),
        "csv": lambda: _table(path, encoding, text_column, ","),
        "tsv": lambda: _table(path, encoding, text_column, "\t"),
        "jsonl": lambda: _jsonl(path, encoding, text_column),
        "conll": lambda: _conll(path, encoding),
        "npz": lambda: _npz(path),
        "npy": lambda: _npy(path),
        "ts": lambda: _ts(path, encoding),
    }
    return _nonblank(readers[fmt](), skip_empty)


def series_format(path: str | Path, fmt: str | None = None) -> str:
    """The format of a file of real-valued series: ``fmt`` checked, or from ``path``'s suffix (``.gz`` looked
    past) as the training reader takes it (``.txt`` is csv), with ``.npy`` besides."""
    path = Path(path)
    if fmt is not None:
        if fmt not in SERIES_READ:
            raise ValueError(
                f"format={fmt} is not a format of real-valued series (this model reads series (T, F)); "
                f"give one of {list(SERIES_READ)} or null (from the file's suffix)"
            )
        return fmt
    suffix = (Path(path.stem).suffix if path.suffix == ".gz" else path.suffix).lower()
    if suffix not in SERIES_SUFFIXES:
        raise ValueError(
            f"{path}: cannot tell the format of its series from the suffix {suffix or '(none)'!r} "
            f"(known: {', '.join(sorted(SERIES_SUFFIXES))}); pass format=ts, csv, tsv, npz or npy"
        )
    return SERIES_SUFFIXES[suffix]


def read_series(
    path: str | Path,
    fmt: str | None = None,
    encoding: str = "utf-8",
    label_column: str = "label",
    id_column: str | None = None,
    time_column: str | None = None,
    feature_columns: Sequence[str] | None = None,
    delimiter: str | None = None,
) -> Iterator[Example]:
    """The real-valued series (float arrays (T, F)) of ``path``, read lazily, in the formats of the training
    reader (:mod:`seqmodels.data.corpora.series_readers`): a UEA ``.ts`` file (labels, if any, skipped), CSV
    (``csv``; ``tsv``: tab-separated) in the long layout (a row per time step and a series-id column: each
    example's position has its ``id``) or the wide one (a row per series), an ``.npz`` (``inputs`` or ``X``
    (N, T, F) or (N, T), optional ``lengths``) or an ``.npy`` (N, T, F).

    The CSV options are the training data config's (``label_column``: left out of the values when present;
    ``id_column``, ``time_column``, ``feature_columns``, ``delimiter``). A long-layout file is read a series at
    a time, so the rows of each series must be together. Missing values (``?``, empty cells, ...) are NaN here;
    the predictor applies the training data's ``nan`` policy.
    """
    path = Path(path).expanduser()
    fmt = series_format(path, fmt)
    _check_file(path)
    if fmt == "ts":
        return _ts(path, encoding)
    if fmt == "npz":
        return _npz(path)
    if fmt == "npy":
        return _npy(path)
    columns = {
        "label_column": label_column,
        "id_column": id_column,
        "time_column": time_column,
        "feature_columns": None if feature_columns is None else [str(c) for c in feature_columns],
    }
    return _series_csv(path, encoding, delimiter or ("\t" if fmt == "tsv" else ","), columns)


def count_examples(path: str | Path, fmt: str | None = None, skip_empty: bool = False) -> int | None:
    """About how many examples ``path`` holds (for a progress bar), found by a pass that keeps nothing:
    lines (blank ones left out with ``skip_empty``), sentences, or array rows; None when unknown."""
    path = Path(path).expanduser()
    fmt = input_format(path, fmt)
    if not path.is_file():
        return None
    if fmt in ("npz", "npy"):
        try:
            return _array_length(path, fmt)
        except (ValueError, OSError, KeyError, IndexError, zipfile.BadZipFile):
            return None
    lines = sentences = series = 0
    previous_blank, in_data = True, False
    with open_binary(path) as f:
        for raw in f:
            blank = not raw.strip()
            lines += not (blank and skip_empty)
            sentences += previous_blank and not blank
            previous_blank = blank
            if fmt == "ts" and not blank and not raw.startswith(b"#"):
                series += in_data
                in_data = in_data or raw.strip().lower() == b"@data"
    return {"conll": sentences, "ts": series, "csv": lines - 1, "tsv": lines - 1}.get(fmt, lines) if lines else 0


def _array_length(path: Path, fmt: str) -> int:
    if fmt == "npy":
        with open(path, "rb") as f:
            return _array_header(f, str(path))[0][0]
    with zipfile.ZipFile(path) as archive:
        key = _series_key([n[:-4] for n in archive.namelist() if n.endswith(".npy")], str(path))
        with archive.open(f"{key}.npy") as f:
            return _array_header(f, str(path))[0][0]


__all__ = [
    "Example",
    "FORMATS",
    "SERIES_FORMATS",
    "count_examples",
    "input_format",
    "read_examples",
    "read_series",
    "series_format",
]
