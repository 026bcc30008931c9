"""CoNLL-style column files: one token per line, columns separated by whitespace, a blank line
between sentences (CoNLL-2000 chunking ``WORD POS CHUNK``, CoNLL-2003 NER, ...).

:func:`read_conll` reads any such file into sentences of rows; :class:`ConllCorpus` picks a word
column and a tag column out of per-split files; :class:`CoNLL2000` is the chunking corpus of
Tjong Kim Sang & Buchholz (2000), with the POS column or the chunk column as the target.

``-DOCSTART-`` lines (document boundaries in CoNLL-2003) are skipped. A row with the wrong number
of columns raises ``ValueError`` naming ``file:line``, what was expected and what was found.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from .corpora.base import check_split, files_fingerprint, iter_lines, require_dir, require_file

DOCSTART = "-DOCSTART-"
CONLL2000_HOW = (
    "CoNLL-2000 chunking: put train.txt(.gz) and test.txt(.gz) from "
    "https://www.clips.uantwerpen.be/conll2000/chunking/ in this folder"
)


class ConllSentence(NamedTuple):
    """One sentence of a column file: its rows (one tuple of column strings per token) and the
    1-based line number of its first row (for error messages)."""

    rows: tuple[tuple[str, ...], ...]
    line: int

    def column(self, index: int) -> tuple[str, ...]:
        """Column ``index`` (negative counts from the end) of every row."""
        return tuple(row[index] for row in self.rows)


def read_conll(
    path: str | Path,
    num_columns: int | None = None,
    separator: str | None = None,
    encoding: str = "utf-8",
) -> list[ConllSentence]:
    """Read a CoNLL-style column file (plain or ``.gz``) into sentences.

    Args:
        path: the file.
        num_columns: columns every token row must have; None takes the first row's count.
        separator: column separator; None splits on any run of whitespace.
        encoding: text encoding (decode errors name the line).

    Returns:
        the sentences in file order; a file without a final blank line still ends its last sentence.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: ``path:line`` of a row whose column count differs from ``num_columns`` (or
            from the first row's), or of a row with an empty column.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"CoNLL file {path} not found")
    if num_columns is not None and (
        isinstance(num_columns, bool) or not isinstance(num_columns, int) or num_columns < 1
    ):
        raise ValueError(f"num_columns must be a positive integer or None, got {num_columns!r}")
    expected, source = num_columns, "num_columns"
    sentences: list[ConllSentence] = []
    rows: list[tuple[str, ...]] = []
    first_line = 0
    for number, line in iter_lines(path, encoding):
        text = line.rstrip("\r\n")
        if not text.strip():
            if rows:
                sentences.append(ConllSentence(tuple(rows), first_line))
                rows = []
            continue
        columns = tuple(text.split(separator)) if separator is not None else tuple(text.split())
        if columns[0] == DOCSTART:
            continue
        if expected is None:
            expected, source = len(columns), f"line {number}, the first row"
        if len(columns) != expected:
            raise ValueError(
                f"{path}:{number}: expected {expected} columns (as {source}) separated by "
                f"{'whitespace' if separator is None else repr(separator)}, got {len(columns)}: {text!r}"
            )
        if any(not c for c in columns):
            raise ValueError(f"{path}:{number}: empty column in {text!r} (separator {separator!r})")
        if not rows:
            first_line = number
        rows.append(columns)
    if rows:
        sentences.append(ConllSentence(tuple(rows), first_line))
    return sentences


class ConllCorpus:
    """A tagging corpus of CoNLL-style files: ``sentences(split) -> [(words, tags), ...]``.

    Args:
        path: the folder holding the files.
        files: split name -> file name inside ``path`` (``.gz`` allowed), e.g.
            ``{"train": "train.txt.gz", "test": "test.txt.gz"}``; a split named ``valid`` is used
            as the validation set, otherwise the data module holds part of train out.
        word_column: index of the token column (negative counts from the end).
        tag_column: index of the target column.
        feature_columns: indices of further columns given to the model as inputs beside the word
            (e.g. CoNLL-2000's part-of-speech column for chunking); read by :meth:`features`.
        num_columns: columns every row must have (None: the first row's count, per file).
        separator: column separator (None: whitespace).
        encoding: text encoding of the files.
        name: shown in messages.
        how: how to get the files, appended to "not found" errors.
    """

    def __init__(
        self,
        path: str | Path,
        files: Mapping[str, str],
        word_column: int = 0,
        tag_column: int = -1,
        num_columns: int | None = None,
        separator: str | None = None,
        encoding: str = "utf-8",
        name: str = "conll",
        how: str | None = None,
        feature_columns: Sequence[int] = (),
    ) -> None:
        if not isinstance(files, Mapping) or "train" not in files:
            raise ValueError(f"files must map split names to file names and include 'train', got {files!r}")
        for key, value in (("word_column", word_column), ("tag_column", tag_column)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{key} must be an integer column index, got {value!r}")
        feature_columns = () if feature_columns is None else feature_columns
        if isinstance(feature_columns, (str, bytes)) or not all(
            isinstance(c, int) and not isinstance(c, bool) for c in feature_columns
        ):
            raise ValueError(f"feature_columns must be a list of integer column indices, got {feature_columns!r}")
        feature_columns = tuple(int(c) for c in feature_columns)
        if tag_column in feature_columns:
            raise ValueError(
                f"feature_columns {list(feature_columns)} include the tag_column {tag_column}: the target cannot be an input"
            )
        self.name = name
        self.how = how or f"expected the files {dict(files)} in this folder"
        self.root = require_dir(path, name, self.how)
        self.files = {str(split): str(file) for split, file in files.items()}
        self.splits = tuple(self.files)
        self.word_column = word_column
        self.tag_column = tag_column
        self.feature_columns = feature_columns
        self.num_columns = num_columns
        self.separator = separator
        self.encoding = encoding

    def path_of(self, split: str) -> Path:
        check_split(split, self.splits, self.name)
        return require_file(self.root / self.files[split], self.name, self.how)

    def _read(self, split: str) -> list[ConllSentence]:
        path = self.path_of(split)
        sentences = read_conll(path, self.num_columns, self.separator, self.encoding)
        columns = [
            (f"word_column={self.word_column}", self.word_column),
            (f"tag_column={self.tag_column}", self.tag_column),
        ]
        columns += [(f"feature_columns entry {c}", c) for c in self.feature_columns]
        for sentence in sentences:
            width = len(sentence.rows[0])
            for key, index in columns:
                if not -width <= index < width:
                    raise ValueError(f"{path}:{sentence.line}: {key} is out of range for rows of {width} columns")
            if self.tag_column % width in {c % width for c in self.feature_columns}:  # -1 and 2 are one column of 3
                raise ValueError(
                    f"{path}:{sentence.line}: feature_columns {list(self.feature_columns)} name the tag_column "
                    f"{self.tag_column} (rows of {width} columns): the target cannot be an input"
                )
        return sentences

    def sentences(self, split: str) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
        """``[(words, tags), ...]`` of ``split`` in file order."""
        return [(s.column(self.word_column), s.column(self.tag_column)) for s in self._read(split)]

    def features(self, split: str) -> list[tuple[tuple[str, ...], ...]]:
        """Per sentence of ``split`` (same order as :meth:`sentences`), one tuple of strings per
        feature column: ``[((pos_1, ..., pos_T),), ...]`` for ``feature_columns=[1]``."""
        return [tuple(s.column(c) for c in self.feature_columns) for s in self._read(split)]

    def fingerprint(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "files": files_fingerprint(self.path_of(s) for s in self.splits),
            "columns": [self.word_column, self.tag_column, *self.feature_columns],
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}(root={str(self.root)!r}, word_column={self.word_column}, tag_column={self.tag_column})"


class CoNLL2000(ConllCorpus):
    """CoNLL-2000 chunking (WSJ sections 15-18 train, 20 test): rows ``WORD POS CHUNK``.

    Args:
        path: the folder with ``train.txt.gz`` and ``test.txt.gz`` (or uncompressed ``.txt``).
        tag_column: ``2`` for the IOB2 chunk tags (the shared task), ``1`` for the POS tags.
        feature_columns: ``[1]`` gives the model the POS tags as an input when chunking (the shared
            task supplies them as input: Brill-tagger POS, not gold).
        compressed: whether the files end in ``.gz``.

    There is no official validation split: the data module holds part of train out.
    """

    def __init__(
        self, path: str | Path, tag_column: int = 2, compressed: bool = True, feature_columns: Sequence[int] = ()
    ) -> None:
        if tag_column not in (1, 2, -1, -2):
            raise ValueError(f"tag_column must be 1 (POS) or 2 (chunk) for CoNLL-2000, got {tag_column!r}")
        suffix = ".txt.gz" if compressed else ".txt"
        super().__init__(
            path,
            {"train": f"train{suffix}", "test": f"test{suffix}"},
            word_column=0,
            tag_column=tag_column,
            num_columns=3,
            name="conll2000",
            how=CONLL2000_HOW,
            feature_columns=feature_columns,
        )


__all__ = ["ConllSentence", "read_conll", "ConllCorpus", "CoNLL2000", "DOCSTART"]
