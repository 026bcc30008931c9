"""Text classification from the user's own files: csv, tsv, JSON lines, ``LABEL text`` lines, fastText
``__label__`` lines or one folder per class (the readers are in :mod:`.labeled_text`).

The classes are the labels of the training files (sorted: numerically when every label is written
as a number, so ``2`` comes before ``10``), or the ``labels`` given. A label of a validation or test
file that the training files do not have is refused unless ``labels`` lists it.
"""

from __future__ import annotations

import codecs
import glob
import logging
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ...utils.io import file_digest
from .base import ClassificationCorpus, check_split, open_binary
from .labeled_text import (
    FASTTEXT_PREFIX,
    Column,
    Row,
    class_folders,
    label_string,
    looks_numeric,
    read_delimited,
    read_fasttext,
    read_folder,
    read_jsonl,
    read_label_first,
    visible_files,
)

log = logging.getLogger(__name__)

FORMATS = ("auto", "csv", "tsv", "jsonl", "label_first", "fasttext", "folder")
EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}
SNIFF_BYTES = 1 << 16
PathSpec = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]


def sort_labels(labels: Iterable[str]) -> list[str]:
    """Distinct labels, sorted by value when every one is written as a number, else as strings."""
    distinct = set(labels)
    if distinct and all(looks_numeric(label) for label in distinct):
        return sorted(distinct, key=lambda label: (float(label), label))
    return sorted(distinct)


class TextClassificationFiles(ClassificationCorpus):
    """Labelled texts from local files, in any of the formats of :mod:`.labeled_text`.

    Args:
        train: the training data: a file, a list of files, a folder or a glob (``data/*.csv``). A
            folder is read as ``format=folder`` when it holds sub-folders (``format=auto``), else as
            the files in it. Files ending in ``.gz`` are decompressed.
        valid, test: the same forms, optional. Without ``valid`` the DataModule holds a share of
            train out (``ClassificationDataModule(val_fraction=..., stratify=True)``).
        format: ``auto``, ``csv``, ``tsv``, ``jsonl``, ``label_first``, ``fasttext`` or ``folder``.
            ``auto`` decides per file: by extension (``.csv``; ``.tsv``/``.tab``; ``.jsonl``/``.ndjson``/
            ``.json``), else by the first non-blank line (``__label__`` -> fasttext; ``{`` or ``[`` ->
            jsonl; a tab-separated or comma-separated header holding both column names -> tsv or csv),
            else ``label_first``; a folder with sub-folders -> folder. It logs what it picked and why.
        text_column, label_column: csv/tsv/jsonl: the columns, by header name (object key for jsonl)
            or 0-based index (array position for jsonl).
        header: csv/tsv: ``"auto"``, ``True`` or ``False`` (see :func:`.labeled_text.read_delimited`).
        labels: the classes, in the order of their indices; ``None``: sorted from train. Listing a
            class lets valid/test use it even when train does not; with ``format=folder`` only the
            listed sub-folders are read (aclImdb's ``train/unsup`` is left out by ``labels=[neg,pos]``).
        encoding: of every file (a byte-order mark is dropped).
        name: for messages.

    ``examples(split)`` gives ``[(text, label index), ...]`` in file order (files in the order given,
    a glob's or folder's files sorted by name).
    """

    def __init__(
        self,
        train: PathSpec,
        valid: PathSpec | None = None,
        test: PathSpec | None = None,
        format: str = "auto",
        text_column: Column = "text",
        label_column: Column = "label",
        header: bool | str = "auto",
        labels: Sequence[Any] | None = None,
        encoding: str = "utf-8",
        name: str = "text_classification",
    ) -> None:
        if format not in FORMATS:
            raise ValueError(f"format must be one of {list(FORMATS)}, got {format!r}")
        for what, column in (("text_column", text_column), ("label_column", label_column)):
            if isinstance(column, bool) or not isinstance(column, (str, int)) or column == "":
                raise ValueError(f"{what} must be a column name or a 0-based index, got {column!r}")
        if text_column == label_column:
            raise ValueError(f"text_column and label_column are the same column ({text_column!r})")
        if header not in ("auto", True, False) or isinstance(header, int) and not isinstance(header, bool):
            raise ValueError(f"header must be auto, true or false, got {header!r}")
        try:
            codecs.lookup(encoding)
        except (LookupError, TypeError):
            raise ValueError(
                f"encoding {encoding!r} is not a known text encoding (e.g. utf-8, latin-1, cp1252)"
            ) from None
        self.name = name
        self.format = format
        self.text_column = text_column
        self.label_column = label_column
        self.header = header
        self.encoding = encoding
        self.given_labels = self._check_labels(labels)
        self.paths: dict[str, list[tuple[Path, str]]] = {}
        for split, spec in (("train", train), ("valid", valid), ("test", test)):
            if spec is None or spec == "" or _is_empty_list(spec):
                if split == "train":
                    raise ValueError("train: no training file given (data.train=my.csv)")
                continue
            self.paths[split] = self._resolve(split, spec)
        self.splits = tuple(self.paths)
        self._rows: dict[str, list[Row]] = {}
        train_rows = self.rows("train")
        found = sort_labels(row.label for row in train_rows)
        if self.given_labels is not None:
            listed = set(self.given_labels)
            for row in train_rows:
                if row.label not in listed:
                    raise ValueError(
                        f"{row.where}: label {row.label!r} is not one of labels={list(self.given_labels)[:20]}"
                    )
            self.label_names = tuple(self.given_labels)
            seen = set(found)
            unused = [label for label in self.given_labels if label not in seen]
            if unused:
                log.warning("%s: labels %s have no training example", self.name, unused[:20])
        else:
            self.label_names = tuple(found)
        if len(self.label_names) < 2:
            raise ValueError(
                f"{self.name}: the training files have {len(self.label_names)} class(es) {list(self.label_names)}; "
                "classification needs at least 2"
            )
        counts = Counter(row.label for row in train_rows)
        log.info(
            "%s: %d training examples, %d classes: %s",
            self.name,
            len(train_rows),
            len(self.label_names),
            ", ".join(f"{label} {counts[label]}" for label in self.label_names[:20])
            + (" ..." if len(self.label_names) > 20 else ""),
        )
        self._index = {label: i for i, label in enumerate(self.label_names)}

    # ------------------------------------------------------------------ options

    @staticmethod
    def _check_labels(labels: Sequence[Any] | None) -> tuple[str, ...] | None:
        if labels is None:
            return None
        if isinstance(labels, (str, bytes)) or not isinstance(labels, Iterable):
            raise ValueError(f"labels must be a list of class names, e.g. [neg,pos], got {labels!r}")
        names = tuple(label_string(label, "labels") for label in labels)
        if len(names) < 2:
            raise ValueError(f"labels must list at least 2 classes, got {list(names)}")
        repeated = sorted(label for label, n in Counter(names).items() if n > 1)
        if repeated:
            raise ValueError(f"labels lists {repeated} more than once")
        return names

    # ------------------------------------------------------------------ files

    def _resolve(self, split: str, spec: PathSpec) -> list[tuple[Path, str]]:
        """``[(path, format), ...]`` of a split; ``format`` decided here for ``auto``."""
        entries = [spec] if isinstance(spec, (str, os.PathLike)) else list(spec)
        if not entries:
            raise ValueError(f"{split}: an empty list of files")
        found: list[tuple[Path, str, str]] = []  # (path, format, why)
        for entry in entries:
            text = os.fspath(entry) if isinstance(entry, (str, os.PathLike)) else None
            if not text:
                raise ValueError(f"{split}: {entry!r} is not a file, folder or glob")
            path = Path(text).expanduser()
            if not path.exists() and glob.has_magic(text):
                matches = sorted(Path(p) for p in glob.glob(os.path.expanduser(text), recursive=True))
                files = [p for p in matches if p.is_file() and not p.name.startswith(".")]
                if not files:
                    raise FileNotFoundError(f"{split}: no file matches {text!r}")
                found += [(p, *self._file_format(p)) for p in files]
            elif path.is_dir():
                found += self._folder_entries(split, path)
            elif path.is_file():
                found.append((path, *self._file_format(path)))
            else:
                raise FileNotFoundError(
                    f"{split}: file {path} not found (relative paths start at the working directory)"
                )
        picks = Counter((fmt, why) for _, fmt, why in found if why)
        for (fmt, why), n in picks.items():
            what = "folder(s)" if fmt == "folder" else "file(s)"
            log.info("%s %s: format=auto read %d %s as %s (%s)", self.name, split, n, what, fmt, why)
        return [(p, fmt) for p, fmt, _ in found]

    def _folder_entries(self, split: str, path: Path) -> list[tuple[Path, str, str]]:
        if self.format == "folder" or (self.format == "auto" and class_folders(path)):
            return [(path, "folder", "" if self.format == "folder" else "a folder with sub-folders: one per class")]
        files = [p for p in sorted(path.iterdir()) if p.is_file() and not p.name.startswith(".")]
        if not files:
            raise ValueError(f"{split}: the folder {path} holds no files")
        return [(p, *self._file_format(p)) for p in files]

    def _file_format(self, path: Path) -> tuple[str, str]:
        """``(format, why)`` of one file; ``why`` is empty unless ``auto`` decided."""
        if self.format == "folder":
            raise ValueError(
                f"{path}: format=folder needs a folder with one sub-folder per class (e.g. train/pos/*.txt), got a file"
            )
        if self.format != "auto":
            return self.format, ""
        name = path.name.lower().removesuffix(".gz")
        extension = Path(name).suffix
        if extension in EXTENSIONS:
            return EXTENSIONS[extension], f"extension {extension}"
        return self._sniff(path)

    def _sniff(self, path: Path) -> tuple[str, str]:
        with open_binary(path) as f:
            head = f.read(SNIFF_BYTES).decode(self.encoding, errors="replace").removeprefix("\ufeff")
        first = next((line.strip() for line in head.splitlines() if line.strip()), "")
        if first.startswith(FASTTEXT_PREFIX):
            return "fasttext", f"the first line starts with {FASTTEXT_PREFIX}"
        if first.startswith(("{", "[")):
            return "jsonl", "the first line is JSON"
        wanted = {c for c in (self.text_column, self.label_column) if isinstance(c, str)}
        if len(wanted) == 2:
            for fmt, sep in (("tsv", "\t"), ("csv", ",")):
                if wanted <= {cell.strip().strip('"') for cell in first.split(sep)}:
                    return fmt, f"the first line is a {'tab' if sep == chr(9) else 'comma'}-separated header"
        return "label_first", "no known extension: lines read as 'LABEL text'"

    # ------------------------------------------------------------------ rows

    def _read(self, path: Path, fmt: str) -> Iterator[Row]:
        if fmt == "csv":
            return read_delimited(path, self.encoding, ",", self.text_column, self.label_column, self.header)
        if fmt == "tsv":
            return read_delimited(path, self.encoding, "\t", self.text_column, self.label_column, self.header)
        if fmt == "jsonl":
            return read_jsonl(path, self.encoding, self.text_column, self.label_column)
        if fmt == "label_first":
            return read_label_first(path, self.encoding)
        if fmt == "fasttext":
            return read_fasttext(path, self.encoding)
        return read_folder(path, self.encoding, self.given_labels)

    def rows(self, split: str) -> list[Row]:
        """The split's rows as read (text, label as written, ``path:line``), in file order."""
        check_split(split, self.splits, self.name)
        if split not in self._rows:
            rows = [row for path, fmt in self.paths[split] for row in self._read(path, fmt)]
            if not rows:
                raise ValueError(f"{self.name} {split}: no examples in {[str(p) for p, _ in self.paths[split]][:5]}")
            self._rows[split] = rows
        return self._rows[split]

    def examples(self, split: str) -> list[tuple[str, int]]:
        out = []
        for row in self.rows(split):
            index = self._index.get(row.label)
            if index is None:
                raise ValueError(
                    f"{row.where}: label {row.label!r} does not occur in the training files (classes: "
                    f"{list(self.label_names)[:20]}); to keep it, list every class: "
                    f"data.labels=[{','.join([*self.label_names[:20], row.label])}]"
                )
            out.append((row.text, index))
        return out

    def fingerprint(self) -> dict[str, Any]:
        """File names and content digests of every split, with the reading options (a cache key)."""

        def files(path: Path, fmt: str) -> list[list[str]]:
            if fmt != "folder":
                return [[path.name, file_digest(path)]]
            return [[p.relative_to(path).as_posix(), file_digest(p)] for p in visible_files(path)]

        return {
            "name": self.name,
            "files": {s: [[fmt, *files(p, fmt)] for p, fmt in entries] for s, entries in self.paths.items()},
            "columns": [self.text_column, self.label_column],
            "header": self.header,
            "labels": list(self.label_names),
            "encoding": self.encoding,
        }

    def __repr__(self) -> str:
        files = {s: [str(p) for p, _ in entries][:3] for s, entries in self.paths.items()}
        return f"{type(self).__name__}({files}, format={self.format!r}, classes={list(self.label_names)[:10]})"


def _is_empty_list(spec: Any) -> bool:
    return not isinstance(spec, (str, os.PathLike)) and isinstance(spec, Sequence) and len(spec) == 0
