"""Readers of labelled-text files: one function per format, each giving :class:`Row` s in file order.

Formats (what :class:`~seqmodels.data.corpora.text_classification.TextClassificationFiles` reads):

    csv          comma-separated values as RFC 4180 writes them (Python's ``csv`` module): quoted fields
                 may hold commas, doubled quotes and newlines
    tsv          tab-separated values, one row per line, no quoting (a quote is an ordinary character,
                 as in GLUE's and IMDB's .tsv files); a field cannot hold a tab or a newline
    jsonl        one JSON object (or array) per line, or one JSON array of them (a ``.json`` file as
                 pandas' ``to_json(orient="records")`` writes it)
    label_first  ``LABEL text`` lines: the label, whitespace (spaces or a tab), the text
    fasttext     ``__label__LABEL text`` lines; a line with several labels is refused
    folder       one sub-folder per class, each file in it (sub-folders included) one text

Every file is decoded whole with ``encoding``; a byte-order mark at its start is dropped; ``\\r\\n``
line ends read as ``\\n``; blank lines (and csv/tsv rows whose fields are all blank) are skipped.
Texts and labels are stripped of surrounding whitespace. Every refusal is a ``ValueError`` naming
``file:line``.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from .base import open_binary

log = logging.getLogger(__name__)

FASTTEXT_PREFIX = "__label__"
Column = str | int


@dataclass(frozen=True)
class Row:
    """One example as read: its text, its label as written, and where it was read (``path:line``)."""

    text: str
    label: str
    path: Path
    line: int

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


def encoding_hint(encoding: str) -> str:
    return (
        f"name the file's encoding: data.encoding=latin-1 on the command line (encoding='latin-1' in "
        f"Python; the current one is {encoding!r})"
    )


def read_file_text(path: Path, encoding: str) -> str:
    """The whole (``.gz``-decompressed) file decoded with ``encoding``, without a leading byte-order mark.

    Raises ``ValueError`` for an empty file and for undecodable bytes (naming the line and the
    ``encoding`` option).
    """
    with open_binary(path) as f:
        raw = f.read()
    if not raw:
        raise ValueError(f"{path}: the file is empty")
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        bad = err.object[err.start : err.end]
        raise ValueError(
            f"{path}:{line}: cannot decode byte(s) {bad!r} as {encoding!r} ({err.reason}); {encoding_hint(encoding)}"
        ) from None
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise ValueError(f"{path}: the file holds only whitespace")
    return text


def _lines(text: str) -> Iterator[tuple[int, str]]:
    """``(line number, line)`` with ``\\n``, ``\\r\\n`` or ``\\r`` ends removed (not ``str.splitlines``, which
    also breaks at form feeds and Unicode separators that may sit inside a text)."""
    yield from enumerate(re.split(r"\r\n|\n|\r", text), 1)


def label_string(value: object, where: str) -> str:
    """A label as text: strings stripped, integers and floats written out, booleans as ``true``/``false``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        label = value.strip()
        if not label:
            raise ValueError(f"{where}: empty label")
        return label
    raise ValueError(f"{where}: a label must be a string or a number, got {json.dumps(value)[:60]}")


def _row(text: object, label: object, path: Path, line: int, empty: str = "remove the row or give it a text") -> Row:
    where = f"{path}:{line}"
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise ValueError(f"{where}: the text must be a string, got {json.dumps(text)[:60]}")
    text = str(text).strip()
    if not text:
        raise ValueError(f"{where}: empty text ({empty})")
    return Row(text, label_string(label, where), path, line)


# ------------------------------------------------------------------------------ LABEL text, __label__X text
_LABEL_FIRST = re.compile(r"(\S+)\s+(.*)", re.S)


def read_label_first(path: Path, encoding: str) -> Iterator[Row]:
    """``LABEL text`` lines (SST-2's ``stsa.binary.*``, TREC's ``LABEL question``)."""
    for number, line in _lines(read_file_text(path, encoding)):
        line = line.strip()
        if not line:
            continue
        match = _LABEL_FIRST.fullmatch(line)
        if match is None:
            raise ValueError(
                f"{path}:{number}: expected 'LABEL text', got only {line[:60]!r} (no text after the label)"
            )
        yield _row(match.group(2), match.group(1), path, number)


def read_fasttext(path: Path, encoding: str) -> Iterator[Row]:
    """``__label__LABEL text`` lines. One label per line: a line with several leading labels is refused
    (this is single-label classification)."""
    for number, line in _lines(read_file_text(path, encoding)):
        line = line.strip()
        if not line:
            continue
        first, rest = (line.split(None, 1) + [""])[:2]
        if not first.startswith(FASTTEXT_PREFIX):
            raise ValueError(f"{path}:{number}: expected '{FASTTEXT_PREFIX}LABEL text', got {line[:60]!r}")
        following = rest.split(None, 1)[0] if rest.strip() else ""
        if following.startswith(FASTTEXT_PREFIX):
            labels = [t[len(FASTTEXT_PREFIX) :] for t in line.split() if t.startswith(FASTTEXT_PREFIX)]
            raise ValueError(
                f"{path}:{number}: several labels {labels[:5]} on one line; this is single-label classification: "
                f"keep one {FASTTEXT_PREFIX} label per line"
            )
        label = first[len(FASTTEXT_PREFIX) :]
        if not label:
            raise ValueError(f"{path}:{number}: empty label after {FASTTEXT_PREFIX!r}")
        if not rest.strip():
            raise ValueError(f"{path}:{number}: expected '{FASTTEXT_PREFIX}LABEL text', got only {line[:60]!r}")
        yield _row(rest, label, path, number)


# ------------------------------------------------------------------------------ csv, tsv
def _csv_records(path: Path, text: str) -> Iterator[tuple[int, list[str]]]:
    """``(first line of the record, fields)`` of an RFC 4180 file (quoted fields may span lines)."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    start = 1
    old_limit = csv.field_size_limit()
    csv.field_size_limit(1 << 30)  # a long text in one field is not an error
    try:
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as err:
                raise ValueError(
                    f"{path}:{start}: malformed CSV ({err}); a field holding a comma, a quote or a line break must "
                    f'be quoted, with its quotes doubled ("say ""hi""")'
                ) from None
            yield start, fields
            start = reader.line_num + 1
    finally:
        csv.field_size_limit(old_limit)


def _tsv_records(text: str) -> Iterator[tuple[int, list[str]]]:
    for number, line in _lines(text):
        yield number, line.split("\t")


_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def looks_numeric(value: str) -> bool:
    """Whether ``value`` is written as a number (``3``, ``-1``, ``0.5``, ``1e3``; not ``nan``/``inf``)."""
    return _NUMBER.fullmatch(value.strip()) is not None


def _first_row_is_a_header(labels: list[str]) -> bool:
    """Whether the first of a label column's values is a header: it is not a number while every other
    value is, or it occurs once while every other value occurs at least twice."""
    if len(labels) < 2:
        return False
    first, rest = labels[0], labels[1:]
    if not looks_numeric(first) and all(looks_numeric(v) for v in rest):
        return True
    counts = Counter(rest)
    return first not in counts and min(counts.values()) >= 2


def _column_index(column: Column, header: list[str] | None, path: Path, line: int, what: str) -> int:
    if isinstance(column, int):
        return column
    assert header is not None
    names = [h.strip() for h in header]
    if names.count(column) > 1:
        raise ValueError(f"{path}:{line}: the header names column {column!r} ({what}) {names.count(column)} times")
    if column not in names:
        raise ValueError(
            f"{path}:{line}: missing column {column!r} ({what}): the header is {names[:12]}. Name the columns with "
            f"data.text_column=... data.label_column=... (header names, or 0-based indices for a file "
            f"without a header, e.g. data.label_column=0 data.text_column=1)"
        )
    return names.index(column)


def read_delimited(
    path: Path,
    encoding: str,
    delimiter: str,
    text_column: Column,
    label_column: Column,
    header: bool | str = "auto",
) -> Iterator[Row]:
    """Rows of a csv (``delimiter=","``) or tsv (``"\\t"``) file.

    ``header``: ``True`` (the first non-blank row names the columns), ``False`` (no header: columns
    must be indices) or ``"auto"``: a header when a column is given by name; with both columns given
    by index, the first row is a header when its label is not a number while every other label is,
    or when its label occurs nowhere else while every other label occurs at least twice (logged).
    Every row must have as many fields as the first (the header when there is one).
    """
    text = read_file_text(path, encoding)
    kind = "CSV" if delimiter == "," else "TSV"
    records = [
        (n, fields)
        for n, fields in (_csv_records(path, text) if delimiter == "," else _tsv_records(text))
        if any(f.strip() for f in fields)
    ]
    if not records:
        raise ValueError(f"{path}: no rows (only blank lines)")
    named = isinstance(text_column, str) or isinstance(label_column, str)
    if header is False and named:
        raise ValueError(
            f"{path}: header=false but a column is given by name (text_column={text_column!r}, "
            f"label_column={label_column!r}): give 0-based indices"
        )
    if header == "auto":
        if named:
            header = True
        else:
            assert isinstance(label_column, int)
            column = [f[label_column].strip() for _, f in records if -len(f) <= label_column < len(f)]
            header = _first_row_is_a_header(column)
            if header:
                log.info(
                    "%s: header=auto: the first row is read as a header (its label %r is not a class)", path, column[0]
                )
    first_line, first = records[0]
    names = first if header else None
    width = len(first)
    text_index = _column_index(text_column, names, path, first_line, "text_column")
    label_index = _column_index(label_column, names, path, first_line, "label_column")
    for index, what in ((text_index, "text_column"), (label_index, "label_column")):
        if not -width <= index < width:
            raise ValueError(
                f"{path}:{first_line}: missing column: {what} is {index} but the {'header' if header else 'row'} has "
                f"{width} field(s) {[f[:20] for f in first[:8]]} (columns count from 0)"
            )
    if text_index % width == label_index % width:
        raise ValueError(
            f"{path}: text_column and label_column name the same column ({text_column!r}, {label_column!r})"
        )
    body = records[1:] if header else records
    if not body:
        raise ValueError(f"{path}: no rows after the header")
    for number, fields in body:
        if len(fields) != width:
            quoting = "quote fields that hold a comma" if delimiter == "," else "a tsv field cannot hold a tab: use csv"
            raise ValueError(
                f"{path}:{number}: ragged {kind} row: {len(fields)} field(s), expected {width} as in the "
                f"{'header' if header else 'first row'} ({quoting})"
            )
        yield _row(fields[text_index], fields[label_index], path, number)


# ------------------------------------------------------------------------------ JSON lines / a JSON array
def _json_array_items(path: Path, text: str) -> Iterator[tuple[int, object]]:
    """``(line, item)`` of a file holding one JSON array (line = where the item starts)."""
    decoder = json.JSONDecoder()
    pos = text.index("[") + 1
    expect_item = True
    while True:
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        if pos >= len(text):
            raise ValueError(f"{path}:{text.count(chr(10)) + 1}: the JSON array is not closed with ']'")
        if text[pos] == "]":
            return
        if text[pos] == "," and not expect_item:
            pos, expect_item = pos + 1, True
            continue
        line = text.count("\n", 0, pos) + 1
        try:
            item, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from None
        expect_item = False
        yield line, item


def _json_lines(path: Path, text: str) -> Iterator[tuple[int, object]]:
    for number, line in _lines(text):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}:{number}: not valid JSON ({err.msg} at column {err.colno})") from None


def _is_one_json_array(text: str) -> bool:
    """Whether ``text`` is one JSON array of records (objects or arrays) rather than JSON lines: it parses
    whole as such an array, or it starts with ``[`` and neither parses whole nor has a first line that parses
    (a broken array, reported by :func:`_json_array_items` with its line)."""
    if not text.lstrip().startswith("["):
        return False
    try:
        whole = json.loads(text)
    except json.JSONDecodeError as err:
        if err.msg == "Extra data":
            return False
        try:
            json.loads(text.lstrip().split("\n", 1)[0])
        except json.JSONDecodeError:
            return True
        return False
    return isinstance(whole, list) and all(isinstance(item, (dict, list)) for item in whole)


def read_jsonl(path: Path, encoding: str, text_column: Column, label_column: Column) -> Iterator[Row]:
    """Rows of a JSON-lines file (or a JSON array): objects read by key, arrays by index."""
    text = read_file_text(path, encoding)
    items = _json_array_items(path, text) if _is_one_json_array(text) else _json_lines(path, text)
    count = 0
    for number, item in items:
        values = []
        for column, what in ((text_column, "text_column"), (label_column, "label_column")):
            if isinstance(item, dict) and isinstance(column, str):
                if column not in item:
                    raise ValueError(
                        f"{path}:{number}: missing column {column!r} ({what}): the object's keys are "
                        f"{list(item)[:12]}; name it with data.{what}=..."
                    )
                values.append(item[column])
            elif isinstance(item, list) and isinstance(column, int):
                if not -len(item) <= column < len(item):
                    raise ValueError(
                        f"{path}:{number}: missing column: {what} is {column} but the array has {len(item)} item(s)"
                    )
                values.append(item[column])
            else:
                expected = "an object (columns by name)" if isinstance(column, str) else "an array (columns by index)"
                raise ValueError(f"{path}:{number}: expected {expected}, got {json.dumps(item)[:60]}")
        count += 1
        yield _row(values[0], values[1], path, number)
    if not count:
        raise ValueError(f"{path}: no rows")


# ------------------------------------------------------------------------------ one folder per class
def visible_files(folder: Path) -> list[Path]:
    """The files under ``folder`` (recursively, sorted), without hidden ones (a name starting with ``.``)."""
    files = (p for p in folder.rglob("*") if p.is_file())
    return sorted(p for p in files if not any(part.startswith(".") for part in p.relative_to(folder).parts))


def class_folders(root: Path) -> list[Path]:
    """The visible sub-folders of ``root``, sorted by name."""
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def read_folder(root: Path, encoding: str, only: Sequence[str] | None = None) -> Iterator[Row]:
    """One example per file of ``root/<label>/``: the label is the sub-folder's name, the text the file's
    content. ``only``: read just these sub-folders (the others are skipped)."""
    folders = class_folders(root)
    if not folders:
        raise ValueError(f"{root}: format=folder needs one sub-folder per class (e.g. {root}/pos/*.txt); it has none")
    for folder in folders:
        if only is not None and folder.name not in only:
            continue
        files = visible_files(folder)
        if not files:
            raise ValueError(f"{folder}: the class folder holds no files")
        for path in files:
            yield _row(read_file_text(path, encoding), folder.name, path, 1, "remove the empty file")
