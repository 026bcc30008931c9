"""Texts with the conditions they were written under, from a user's csv, tsv or JSON-lines files: one text
column, K categorical condition columns and F real-valued ones (a conditional language model's data).

The rows are read by the text-classification readers (:mod:`.labeled_text`), once per condition column with
that column as the "label", so every format rule and refusal is theirs (quoting, a header, ragged rows, a
``.gz`` file, a byte-order mark, ``file:line`` in every error). A categorical field's values are those of the
training files (sorted, numerically when all are numbers); a validation or test value the training files do
not have is refused with the known ones, as is a real-valued cell that is not a finite number.
"""

from __future__ import annotations

import codecs
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...utils.io import file_digest
from ..conditions import Conditions, as_conditions
from .base import ClassificationCorpus, check_split
from .labeled_text import Column, Row, read_delimited, read_jsonl
from .text_classification import EXTENSIONS
from .text_files import expand_files

FORMATS = ("auto", "csv", "tsv", "jsonl")


@dataclass(frozen=True)
class ConditionalRow:
    """One text, its categorical condition values as written and its real values, and where it was read."""

    text: str
    fields: tuple[str, ...]
    values: tuple[float, ...]
    where: str


def _columns(name: str, columns: Any) -> list[Column]:
    if columns is None:
        return []
    if isinstance(columns, (str, int)) and not isinstance(columns, bool):
        columns = [columns]
    out = list(columns)
    for column in out:
        if isinstance(column, bool) or not isinstance(column, (str, int)) or column == "":
            raise ValueError(f"{name} must list column names or 0-based indices, got {column!r}")
    return out


class ConditionalTextFiles(ClassificationCorpus):
    """Conditioned texts from local files.

    Args:
        train: a file, a folder (its files), a glob or a list of them; ``.gz`` files are decompressed.
        valid, test: the same forms, optional (without ``valid`` the DataModule holds a share of train out).
        format: ``auto`` (by extension: ``.csv``; ``.tsv``/``.tab``; ``.jsonl``/``.ndjson``/``.json``), ``csv``,
            ``tsv`` or ``jsonl``.
        text_column: the text's column: a header name (a JSON key) or a 0-based index (a JSON array position).
        condition_columns: the categorical condition columns, the same way; each is a field named after its
            column (an index as its number: ``condition=0:pos``).
        value_columns: the real-valued condition columns (numbers).
        header: csv/tsv: ``auto`` (a header when a column is given by name), ``True`` or ``False``.
        encoding: of every file.
        conditions: the :class:`~seqmodels.data.conditions.Conditions` (or its dict) to read the values with,
            e.g. a checkpoint's; None: built from the training files.
        name: for messages.

    ``examples(split)`` gives ``[(text, (ids, values)), ...]``: each text with its K value ids and F floats.
    """

    def __init__(
        self,
        train: Any,
        valid: Any = None,
        test: Any = None,
        format: str = "auto",
        text_column: Column = "text",
        condition_columns: Sequence[Column] | Column | None = ("label",),
        value_columns: Sequence[Column] | Column | None = (),
        header: bool | str = "auto",
        encoding: str = "utf-8",
        conditions: Conditions | dict[str, Any] | None = None,
        name: str = "conditional_text",
    ) -> None:
        if format not in FORMATS:
            raise ValueError(f"format must be one of {list(FORMATS)}, got {format!r}")
        if isinstance(text_column, bool) or not isinstance(text_column, (str, int)) or text_column == "":
            raise ValueError(f"text_column must be a column name or a 0-based index, got {text_column!r}")
        self.condition_columns = _columns("condition_columns", condition_columns)
        self.value_columns = _columns("value_columns", value_columns)
        columns = [*self.condition_columns, *self.value_columns]
        if not columns:
            raise ValueError("name at least one condition column: condition_columns=[label] and/or value_columns=[x]")
        repeated = sorted({str(c) for c in columns if columns.count(c) > 1})
        if repeated or text_column in columns:
            raise ValueError(
                f"a column is used twice (text_column={text_column!r}, condition_columns={self.condition_columns}, "
                f"value_columns={self.value_columns})"
            )
        if header not in ("auto", True, False) or isinstance(header, int) and not isinstance(header, bool):
            raise ValueError(f"header must be auto, true or false, got {header!r}")
        try:
            codecs.lookup(encoding)
        except (LookupError, TypeError):
            raise ValueError(f"encoding {encoding!r} is not a known text encoding (e.g. utf-8, latin-1)") from None
        self.name = name
        self.format = format
        self.text_column = text_column
        self.header = header if header != "auto" else any(isinstance(c, str) for c in [text_column, *columns])
        self.encoding = encoding
        self.paths: dict[str, list[tuple[Path, str]]] = {}
        for split, spec in (("train", train), ("valid", valid), ("test", test)):
            if spec is None or spec == "" or (isinstance(spec, (list, tuple)) and not spec):
                if split == "train":
                    raise ValueError("train: no training file given (data.train=my.csv)")
                continue
            self.paths[split] = [(p, self._file_format(p)) for p in expand_files(spec, split)]
        self.splits = tuple(self.paths)
        self._rows: dict[str, list[ConditionalRow]] = {}
        given = as_conditions(conditions)
        names = [str(c) for c in self.condition_columns]
        value_names = [str(c) for c in self.value_columns]
        if given is not None:
            if list(given.fields) != names or list(given.value_fields) != value_names:
                raise ValueError(
                    f"{name}: the given conditions have the fields {list(given.fields)} and real-valued "
                    f"{list(given.value_fields)}, but the columns read are {names} and {value_names}"
                )
            self.conditions = given
        else:
            train_rows = self.rows("train")
            self.conditions = Conditions.build(
                names, [r.fields for r in train_rows], value_names, [r.values for r in train_rows]
            )
        self.label_names: tuple[str, ...] = ()  # a generator's data: no classes

    def _file_format(self, path: Path) -> str:
        if self.format != "auto":
            return self.format
        extension = Path(path.name.lower().removesuffix(".gz")).suffix
        if extension not in EXTENSIONS:
            raise ValueError(
                f"{path}: format=auto reads .csv, .tsv/.tab and .jsonl/.ndjson/.json files; name the format of this "
                "one with data.format=csv|tsv|jsonl"
            )
        return EXTENSIONS[extension]

    def _read_column(self, path: Path, fmt: str, column: Column) -> list[Row]:
        if fmt == "jsonl":
            return list(read_jsonl(path, self.encoding, self.text_column, column))
        delimiter = "," if fmt == "csv" else "\t"
        return list(read_delimited(path, self.encoding, delimiter, self.text_column, column, self.header))

    def _read(self, path: Path, fmt: str) -> list[ConditionalRow]:
        per_column = [self._read_column(path, fmt, c) for c in [*self.condition_columns, *self.value_columns]]
        K = len(self.condition_columns)
        rows = []
        for cells in zip(*per_column, strict=True):  # the same file read the same way: the same rows
            values = []
            for column, cell in zip(self.value_columns, cells[K:]):
                try:
                    number = float(cell.label)
                except ValueError:
                    number = math.nan
                if not math.isfinite(number):
                    raise ValueError(
                        f"{cell.where}: value column {column!r} must hold a finite number, got {cell.label!r}"
                    )
                values.append(number)
            first = cells[0]
            rows.append(ConditionalRow(first.text, tuple(c.label for c in cells[:K]), tuple(values), first.where))
        return rows

    def rows(self, split: str) -> list[ConditionalRow]:
        """The split's rows as read, in file order."""
        check_split(split, self.splits, self.name)
        if split not in self._rows:
            rows = [row for path, fmt in self.paths[split] for row in self._read(path, fmt)]
            if not rows:
                raise ValueError(f"{self.name} {split}: no rows in {[str(p) for p, _ in self.paths[split]][:5]}")
            self._rows[split] = rows
        return self._rows[split]

    def examples(self, split: str) -> list[tuple[str, Any]]:  # the "label" is (ids, values), not a class
        out = []
        for row in self.rows(split):
            ids = tuple(
                self.conditions.index(name, value, row.where) for name, value in zip(self.conditions.fields, row.fields)
            )
            out.append((row.text, (ids, row.values)))
        return out

    def fingerprint(self) -> dict[str, Any]:
        """File names and content digests of every split, with the reading options."""
        return {
            "name": self.name,
            "files": {s: [[fmt, p.name, file_digest(p)] for p, fmt in entries] for s, entries in self.paths.items()},
            "columns": [self.text_column, self.condition_columns, self.value_columns],
            "header": self.header,
            "conditions": self.conditions.to_dict(),
            "encoding": self.encoding,
        }

    def __repr__(self) -> str:
        files = {s: [str(p) for p, _ in entries][:3] for s, entries in self.paths.items()}
        return f"{type(self).__name__}({files}, {self.conditions!r})"


__all__ = ["ConditionalRow", "ConditionalTextFiles"]
