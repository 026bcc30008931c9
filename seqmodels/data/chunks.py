"""Chunks (spans) in IOB-style tag sequences, read as CoNLL's ``conlleval`` reads them.

A tag is ``PREFIX-TYPE`` (``B-NP``, ``I-VP``, ``E-PER``, ``S-LOC``) or ``O``; the prefix is the part
before the first ``-``. Reading a sentence left to right with ``O`` appended, a chunk of the previous
type ends before the current tag when

    the previous prefix is E or S; or (previous, current) is (B|I, B|S|O); or the previous tag is not
    O and the types differ,

and a chunk starts at the current tag when

    the prefix is B or S; or (previous, current) is (E|S|O, E|I); or the tag is not O and the types differ.

So IOB2 (CoNLL-2000), IOB1, IOE and IOBES sequences are all read the conlleval way; an ``I-X``
after ``O`` or after another type starts a chunk. A chunk is ``(type, first token, last token)``.

Scoring chunks (precision, recall, F1) is :mod:`seqmodels.tasks.spans`; predicting them,
:mod:`seqmodels.inference.predictor`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

Span = tuple[str, int, int]  # (type, first index, last index), inclusive


def _split(tag: str) -> tuple[str, str]:
    if tag == "O":
        return "O", ""
    prefix, _, kind = tag.partition("-")
    return prefix, kind


def _ends(prev: str, prev_type: str, cur: str, cur_type: str) -> bool:
    return (
        prev in ("E", "S")
        or (prev in ("B", "I") and cur in ("B", "S", "O"))
        or (prev not in ("O", ".") and prev_type != cur_type)
    )


def _starts(prev: str, prev_type: str, cur: str, cur_type: str) -> bool:
    return (
        cur in ("B", "S")
        or (prev in ("E", "S", "O") and cur in ("E", "I"))
        or (cur not in ("O", ".") and prev_type != cur_type)
    )


def spans(tags: Sequence[str]) -> list[Span]:
    """The chunks of one tag sequence, in order: ``[(type, first, last), ...]`` (see the module docstring)."""
    out: list[Span] = []
    prev, prev_type, begin = "O", "", 0
    for i, tag in enumerate([*tags, "O"]):
        cur, cur_type = _split(tag)
        if _ends(prev, prev_type, cur, cur_type):
            out.append((prev_type, begin, i - 1))
        if _starts(prev, prev_type, cur, cur_type):
            begin = i
        prev, prev_type = cur, cur_type
    return out


_CHUNK_TAG = re.compile(r"^(O|[BIES]-.+)$")


def is_chunk_scheme(tags: Iterable[str]) -> bool:
    """Whether every tag is ``O`` or ``B-``/``I-``/``E-``/``S-`` followed by a type (an IOB-style tag set
    whose sequences have chunks), and at least one is not ``O``."""
    tags = list(tags)
    return bool(tags) and all(_CHUNK_TAG.match(t) for t in tags) and any(t != "O" for t in tags)


__all__ = ["Span", "is_chunk_scheme", "spans"]
