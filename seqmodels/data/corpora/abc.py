"""Folk tunes in ABC notation: collection files split into tunes, and a seeded split by tune.

An ABC file (ABC standard 2.1) holds tunes one after another. Here:

* a tune starts at an ``X:`` line; its **header** is the field lines (``letter:value``) and ``%``
  comments from ``X:`` through the first ``K:`` line (the key field ends the header);
* its **body** is the lines after ``K:`` up to the first blank line, the next ``X:`` line or the end of
  the file (line ends written ``\\n``, no final line break);
* before the first ``X:`` only blank lines and ``%`` comments may stand (a file header of fields is not
  read); between a blank line that ends a tune and the next ``X:`` the same.

Errors (``ValueError``, naming ``file:line`` or ``file: tune X:n``): an empty file, a file without an
``X:`` line, text before the first ``X:`` or after the blank line that ends a tune, a tune without a
``K:`` line, a header line that is neither a field nor a comment, undecodable bytes (the message names
the ``encoding=`` option).

:class:`AbcCorpus` reads files or folders of ``.abc`` files and splits the tunes by a seeded
permutation (:func:`split_tunes`; default 80/10/10 with seed 0); :class:`NottinghamABC` is the
Nottingham Music Database (1,034 tunes, jukedeck's cleaned ABC). Each tune is a body conditioned on header
fields (default ``M``, ``L``, ``K``: :meth:`AbcTune.condition`), the corpus's ``conditions``
(:class:`~seqmodels.data.conditions.Conditions`) naming their values.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..abc_tokens import ABCTokenizer, default_unit_length, parse_meter
from ..conditions import Conditions, as_conditions
from .base import ClassificationCorpus, check_split, files_fingerprint, read_text, require_dir

SPLITS = ("train", "valid", "test")
DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)
DEFAULT_FIELDS = ("M", "L", "K")
ABSENT = "none"
"""The value of a condition field a tune does not set (``M:none`` is ABC's free meter)."""
_FIELD = re.compile(r"([A-Za-z+]):(.*)\Z")


def _value(text: str) -> str:
    """A field value with its whitespace runs collapsed to single spaces and the ends stripped."""
    return " ".join(text.split())


@dataclass(frozen=True)
class AbcTune:
    """One tune of an ABC file.

    Attributes:
        source: the file it was read from.
        line: the 1-based line of its ``X:`` field.
        number: the ``X:`` value (``"12"``).
        header: ``(letter, value)`` of every header field line, in order (comments left out), values
            with whitespace runs collapsed; the last is ``("K", key)``.
        header_text: the header lines as written (comments included), joined by ``\\n``.
        body: the lines after ``K:``, joined by ``\\n``.
    """

    source: str
    line: int
    number: str
    header: tuple[tuple[str, str], ...]
    header_text: str
    body: str

    @property
    def name(self) -> str:
        """``<file>: tune X:<number>``, as errors name a tune."""
        return f"{self.source}: tune X:{self.number}"

    @property
    def text(self) -> str:
        """The whole tune as ABC text (header, body, a final line break)."""
        return f"{self.header_text}\n{self.body}\n"

    def field(self, letter: str) -> str | None:
        """The first header value of ``letter`` (``"M"``, ``"K"``, ...), or None."""
        return next((value for key, value in self.header if key == letter), None)

    def condition(self, letters: Sequence[str]) -> dict[str, str]:
        """The values of the fields ``letters`` in force at the tune's first line of music.

        That is the header's value, replaced by a field line of the same letter in the body before the
        first line that is not a field or a comment (some Nottingham tunes say ``M:4/4`` in the header and
        ``M:6/8`` on the first body line). A field the tune never sets is left out, except ``L``: a tune
        without ``L:`` gets the standard's default for its header's meter (``1/16`` below 3/4, else ``1/8``;
        :func:`~seqmodels.data.abc_tokens.default_unit_length`), so that the condition fixes what a note's
        length means.
        """
        values = {key: value for key, value in reversed(self.header)}  # the first header value wins
        for line in self.body.split("\n"):
            stripped = line.strip()
            if not stripped or stripped.startswith("%"):
                continue
            match = _FIELD.match(stripped)
            if match is None or stripped[2:3] in ("|", ":"):
                break
            values[match.group(1)] = _value(match.group(2))
        if "L" not in values:
            try:
                values["L"] = str(default_unit_length(parse_meter(self.field("M") or "none")))
            except ValueError:
                pass  # a meter the standard does not define: no default either
        return {key: values[key] for key in letters if key in values}


def format_tune(condition: Mapping[str, str], body: str, number: str = "1") -> str:
    """An ABC tune from its condition fields and body: ``X:number``, the fields in the order given with
    ``K`` moved last (it ends the header), then the body and a final line break."""
    fields = [(k, v) for k, v in condition.items() if k != "K"] + [(k, v) for k, v in condition.items() if k == "K"]
    header = "\n".join([f"X:{number}"] + [f"{key}:{value}" for key, value in fields])
    return f"{header}\n{body}\n"


def parse_abc(text: str, source: str = "<string>") -> list[AbcTune]:
    """The tunes of one ABC file's text (the rules and errors are in the module docstring)."""
    if not text.strip():
        raise ValueError(f"{source}: the file is empty (an ABC file holds tunes, each starting with an X: line)")
    lines = text.replace("\r\n", "\n").split("\n")
    tunes: list[AbcTune] = []
    i = 0
    ended = 0  # the line that ended the last tune (0: before the first)
    while i < len(lines):
        line = lines[i]
        if not line.startswith("X:"):
            if line.strip() and not line.lstrip().startswith("%"):
                where = f"after the blank line (line {ended}) that ends the tune before it" if ended else "before it"
                raise ValueError(
                    f"{source}:{i + 1}: {line.strip()[:40]!r} is not in a tune: every tune starts with an X: line, "
                    f"and this text stands {where}"
                )
            i += 1
            continue
        start = i
        number = _value(line[2:])
        header: list[tuple[str, str]] = []
        header_lines: list[str] = []
        while True:
            if i >= len(lines) or not lines[i].strip() or (i > start and lines[i].startswith("X:")):
                raise ValueError(
                    f"{source}: tune X:{number} (line {start + 1}) has no K: field: the header (X:, T:, M:, L:, ...) "
                    f"must end with a K: line before line {i + 1}"
                )
            raw = lines[i].rstrip()
            header_lines.append(raw)
            i += 1
            if raw.lstrip().startswith("%"):
                continue
            match = _FIELD.match(raw)
            if match is None:
                raise ValueError(
                    f"{source}:{i}: tune X:{number}: {raw[:40]!r} in the header is neither a field (letter:value) "
                    "nor a % comment; music starts after the K: line"
                )
            header.append((match.group(1), _value(match.group(2))))
            if match.group(1) == "K":
                break
        body: list[str] = []
        while i < len(lines) and lines[i].strip() and not lines[i].startswith("X:"):
            body.append(lines[i].rstrip())
            i += 1
        ended = i + 1
        tunes.append(AbcTune(source, start + 1, number, tuple(header), "\n".join(header_lines), "\n".join(body)))
    if not tunes:
        raise ValueError(f"{source}: no tune (no line starts with X:)")
    return tunes


def read_abc(path: str | os.PathLike[str], encoding: str = "utf-8") -> list[AbcTune]:
    """The tunes of one ABC file (``.gz`` decompressed); see :func:`parse_abc`."""
    path = Path(path)
    return parse_abc(read_text(path, encoding), str(path))


def check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    """Three shares (train, valid, test): numbers >= 0 summing to 1, train > 0."""
    if (
        not isinstance(fractions, Sequence)
        or len(fractions) != 3
        or any(isinstance(f, bool) or not isinstance(f, (int, float)) or f < 0 for f in fractions)
        or fractions[0] <= 0
        or abs(sum(fractions) - 1.0) > 1e-9
    ):
        raise ValueError(
            f"fractions must be three numbers >= 0 summing to 1 (train, valid, test; train > 0), got {fractions!r}"
        )
    return float(fractions[0]), float(fractions[1]), float(fractions[2])


def split_tunes(
    tunes: Sequence[AbcTune], fractions: Sequence[float] = DEFAULT_FRACTIONS, seed: int = 0
) -> dict[str, list[AbcTune]]:
    """Tunes split by a seeded permutation: ``{"train": [...], "valid": [...], "test": [...]}``.

    The permutation is ``numpy.random.default_rng(seed).permutation(N)`` of the tunes in the order
    given; its first ``round(N * train)`` positions are train, the next ``round(N * valid)`` valid, the
    rest test. Each split keeps the given order. The same tunes, fractions and seed give the same split.
    """
    train, valid, _ = check_fractions(fractions)
    n = len(tunes)
    order = np.random.default_rng(seed).permutation(n)
    n_train, n_valid = round(n * train), round(n * valid)
    n_valid = min(n_valid, n - n_train)
    cuts = {"train": order[:n_train], "valid": order[n_train : n_train + n_valid], "test": order[n_train + n_valid :]}
    return {split: [tunes[i] for i in sorted(idx.tolist())] for split, idx in cuts.items()}


class AbcCorpus(ClassificationCorpus):
    """The tunes of ABC files, split by tune (:func:`split_tunes`), conditioned on header fields.

    Args:
        paths: ``.abc`` files or folders (every ``*.abc`` and ``*.abc.gz`` in them, by name), or a list.
        fractions: shares of (train, valid, test).
        seed: seeds the split.
        fields: the condition fields, header letters (default meter, unit length, key).
        encoding: the files' encoding.
        conditions: the :class:`~seqmodels.data.conditions.Conditions` (or its dict) to read the fields'
            values with, e.g. a checkpoint's; None: every value of every tune, all splits (so that a
            validation or test tune in a key no training tune has is still read; its embedding then stays
            untrained).
        name: shown in messages.

    ``tunes(split)``: the :class:`AbcTune` objects, in file order. ``pairs(split, tokenizer)``: each tune as
    ``(condition, tokens)``, ``condition`` being :meth:`AbcTune.condition` of ``fields`` (a field the tune
    lacks reads ``none``) and ``tokens`` its body's tokens (:class:`~seqmodels.data.abc_tokens.ABCTokenizer`
    by default). ``examples(split)``: ``[(body, (ids, ()))]``, what
    :class:`~seqmodels.data.conditional_text.ConditionalTextDataModule` reads.
    """

    splits = SPLITS
    label_names: tuple[str, ...] = ()  # a generator's data: no classes

    def __init__(
        self,
        paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        fractions: Sequence[float] = DEFAULT_FRACTIONS,
        seed: int = 0,
        fields: Sequence[str] = DEFAULT_FIELDS,
        encoding: str = "utf-8",
        conditions: Conditions | Mapping[str, Any] | None = None,
        name: str = "abc",
    ) -> None:
        self.name = name
        self.fractions = check_fractions(fractions)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed must be an integer, got {seed!r}")
        names = [fields] if isinstance(fields, str) else list(fields)
        if not names or any(not isinstance(f, str) or not re.fullmatch(r"[A-Za-z]", f) for f in names):
            raise ValueError(f"fields must be header letters such as [M, L, K], got {fields!r}")
        if len(set(names)) != len(names):
            raise ValueError(f"fields names a letter twice: {fields!r}")
        self.fields = tuple(names)
        self.seed = seed
        self.encoding = encoding
        self.files = self._find(paths)
        self.all_tunes = [tune for path in self.files for tune in read_abc(path, encoding)]
        self._split = split_tunes(self.all_tunes, self.fractions, seed)
        given = as_conditions(conditions)
        if given is not None and (list(given.fields) != names or given.value_fields):
            raise ValueError(
                f"{name}: the given conditions have the fields {list(given.fields)} (and real-valued "
                f"{list(given.value_fields)}), but the fields read are {names}"
            )
        self.conditions = given or Conditions.build(names, [self._values(t) for t in self.all_tunes])

    def _find(self, paths: Any) -> list[Path]:
        items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
        if not items:
            raise ValueError(f"{self.name}: no ABC file given")
        files: list[Path] = []
        for item in items:
            path = require_dir(item, self.name, "pass .abc files or folders holding them")
            if path.is_dir():
                found = sorted(p for p in path.iterdir() if p.name.endswith((".abc", ".abc.gz")) and p.is_file())
                if not found:
                    raise FileNotFoundError(f"{self.name}: no *.abc file in {path}")
                files.extend(found)
            else:
                files.append(path)
        return files

    def _values(self, tune: AbcTune) -> tuple[str, ...]:
        condition = tune.condition(self.fields)
        return tuple(condition.get(f, ABSENT) for f in self.fields)

    def tunes(self, split: str) -> list[AbcTune]:
        return list(self._split[check_split(split, self.splits, self.name)])

    def pairs(self, split: str, tokenizer: Any = None) -> list[tuple[dict[str, str], list[str]]]:
        """``[(condition, body tokens), ...]`` of the split (see the class docstring)."""
        tokenizer = tokenizer if tokenizer is not None else ABCTokenizer()
        return [
            (dict(zip(self.fields, self._values(tune))), tokenizer.tokenize(tune.body)) for tune in self.tunes(split)
        ]

    def examples(self, split: str) -> list[tuple[Any, int]]:  # the "label" is (ids, values), not a class
        out: list[tuple[Any, Any]] = []
        for tune in self.tunes(split):
            ids = tuple(self.conditions.index(f, value, tune.name) for f, value in zip(self.fields, self._values(tune)))
            out.append((tune.body, (ids, ())))
        return out

    def fingerprint(self) -> dict[str, Any]:
        return {
            "corpus": self.name,
            "fractions": list(self.fractions),
            "seed": self.seed,
            "encoding": self.encoding,
            "conditions": self.conditions.to_dict(),
            "files": files_fingerprint(self.files),
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, tunes={len(self.all_tunes)}, fields={list(self.fields)})"


class NottinghamABC(AbcCorpus):
    """The Nottingham Music Database as cleaned by jukedeck (14 collections, 1,034 tunes: melody with
    chord symbols), split 80/10/10 by tune with seed 0 unless told otherwise (827 / 103 / 104 tunes).

    Args:
        path: the folder holding ``ABC_cleaned/`` (or ``ABC_cleaned/`` itself).
        fractions, seed, fields, encoding, conditions: as :class:`AbcCorpus`.
    """

    HOW = (
        "Get ABC_cleaned/ from https://github.com/jukedeck/nottingham-dataset and pass its parent folder "
        "(e.g. path=${paths.data_dir}/nottingham)"
    )

    def __init__(
        self,
        path: str | os.PathLike[str] | None,
        fractions: Sequence[float] = DEFAULT_FRACTIONS,
        seed: int = 0,
        fields: Sequence[str] = DEFAULT_FIELDS,
        encoding: str = "utf-8",
        conditions: Conditions | Mapping[str, Any] | None = None,
    ) -> None:
        root = require_dir(path, "nottingham", self.HOW)
        folder = root / "ABC_cleaned" if (root / "ABC_cleaned").is_dir() else root
        if not any(folder.glob("*.abc")):
            raise FileNotFoundError(f"nottingham: no *.abc file in {folder}. {self.HOW}")
        super().__init__(folder, fractions, seed, fields, encoding, conditions, name="nottingham")


__all__ = [
    "ABSENT",
    "DEFAULT_FIELDS",
    "DEFAULT_FRACTIONS",
    "AbcCorpus",
    "AbcTune",
    "NottinghamABC",
    "check_fractions",
    "format_tune",
    "parse_abc",
    "read_abc",
    "split_tunes",
]
