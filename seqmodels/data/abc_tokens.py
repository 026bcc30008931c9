"""ABC music notation as tokens at the level musicians read it: a note with its accidental, octave marks
and length is one token (``^c'2``), so is a bar line (``:|2``) or a chord symbol (``"Am"``).

The rules, tried in this order at each position of the text (the first that matches wins):

=================  ==========================================  =====================================
kind               pattern                                     examples
=================  ==========================================  =====================================
``field``          a whole line ``letter:`` ... at a line      ``K:G``  ``M:6/8``  ``P:B``  ``T:Abacus``
                   start (not ``X:|`` / ``X::``, which are
                   a note and a bar line), trailing spaces cut
``comment``        ``%`` to the end of the line                ``% Nottingham Music Database``
``newline``        a line end (``\\r\\n`` too)                  ``"\\n"``
``space``          a run of other whitespace                   dropped, or ``" "`` with ``spaces=True``
``inline_field``   ``[letter:...]``                            ``[K:D]``  ``[M:3/4]``
``volta``          ``[`` and an ending number                  ``[1``  ``[2``
``bar``            bar lines and repeats, an ending number     ``|``  ``||``  ``|]``  ``[|``  ``|:``
                   glued on                                    ``:|``  ``::``  ``:||:``  ``|1``  ``:|2``
``chord_symbol``   ``"..."`` on one line                       ``"Am"``  ``"D7/f#"``
``decoration``     ``!...!``, ``+...+`` (no ``[ ] |`` inside)    ``!trill!``  ``~``  ``.``
                   or one of ``.~HLMOPSTuv``
``tuplet``         ``(p``, ``(p:q``, ``(p:q:r``                ``(3``  ``(3:2:3``
``note``           accidental? letter octave-marks length?     ``^c'2``  ``_B,/2``  ``=f``  ``A3/2``
``rest``           ``z`` or ``x`` and a length                 ``z``  ``z3/2``  ``x2``
``measure_rest``   ``Z`` or ``X`` and a bar count              ``Z``  ``Z4``
``chord_start``    ``[``                                       ``[`` (of ``[CEG]2``)
``chord_end``      ``]`` and the chord's length                ``]``  ``]2``
``grace_start``    ``{`` or ``{/`` (acciaccatura)              ``{``  ``{/``
``grace_end``      ``}``                                       ``}``
``broken``         ``>``/``<`` runs (broken rhythm)            ``>``  ``<``  ``>>``
``tie``            ``-``                                       ``-``
``slur``           ``(`` or ``)``                              ``(``  ``)``
``continuation``   ``\\``                                       ``\\`` (joins the next line)
``char``           any other single character: the fallback    ``&``  ``y``  ``"`` (unclosed)
=================  ==========================================  =====================================

A length is ``digits``, ``digits/digits``, ``/digits`` or slashes (``/`` = half, ``//`` = quarter),
multiplying the unit note length ``L:``.

Nothing is dropped but whitespace between tokens: every other character lands in exactly one token
(the ``char`` fallback catches what no rule names). So ``detokenize(tokenize(text))`` equals ``text``
*modulo whitespace*: with the spaces and tabs outside tokens removed, trailing whitespace cut from field
and comment lines, and ``\\r\\n`` written ``\\n`` (spaces inside a chord symbol, a decoration, an inline
field, a field or a comment line are kept). With ``spaces=True`` a run of spaces becomes one ``" "``
token, so beaming (notes written together or apart) survives too.

:meth:`ABCTokenizer.detokenize` is ``"".join(tokens)``, except that a ``field`` token is put on a line of
its own and a ``comment`` ends its line (line breaks are added where the tokens lack them) and a
space is put between two tokens that written together would read as other tokens (``||`` then ``|:``
would read ``|||:``). A decoration that would read as a field at a line start (``+:trill+``, where ``+:``
continues a field) stays where it stands, and is indented by a space when it starts a line of other tokens.
So any token sequence, a sampled one too, decodes to text that reads back as the same tokens: ``tokenize(detokenize(tokens)) == tokens`` for tokens that ``tokenize`` produced.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from fractions import Fraction
from typing import Any, NamedTuple

from .tokenizer_base import Tokenizer

LENGTH = r"(?:\d+/+\d*|\d+|/+\d*)"
"""A note length: ``2``, ``3/2``, ``/2``, ``/``, ``//``."""

_RULES: tuple[tuple[str, str], ...] = (
    ("field", r"^[A-Za-z+]:(?![|:])[^\n]*"),
    ("comment", r"%[^\n]*"),
    ("newline", r"\r?\n"),
    ("space", r"(?:[^\S\r\n]|\r(?!\n))+"),
    ("inline_field", r"\[[A-Za-z]:[^\]\n]*\]"),
    ("volta", r"\[\d+(?:[,-]\d+)*"),
    ("bar", r":*\|+\d+(?:[,-]\d+)*|\[\|:*|:*\|+\]?:*|::+"),
    ("chord_symbol", r'"[^"\n]*"'),
    ("decoration", r"![^!\n\[\]|]*!|\+[^+\n\[\]|]*\+|[.~HLMOPSTuv]"),
    ("tuplet", r"\(\d+(?::\d*){0,2}"),
    ("note", r"(?:\^\^|\^|__|_|=)?[A-Ga-g][,']*" + LENGTH + "?"),
    ("rest", r"[zx]" + LENGTH + "?"),
    ("measure_rest", r"[ZX]\d*"),
    ("chord_start", r"\["),
    ("chord_end", r"\]" + LENGTH + "?"),
    ("grace_start", r"\{/?"),
    ("grace_end", r"\}"),
    ("broken", r">+|<+"),
    ("tie", r"-"),
    ("slur", r"[()]"),
    ("continuation", r"\\"),
    ("char", r"."),
)

TOKEN_KINDS: tuple[str, ...] = tuple(kind for kind, _ in _RULES)
"""Every token kind, in the order the rules are tried."""

_SCANNER = re.compile("|".join(f"(?P<{kind}>{pattern})" for kind, pattern in _RULES), re.MULTILINE)
_LINE_TOKENS = ("field", "comment")


def _is_field(token: str) -> bool:
    """Whether ``token`` is a field line (which must stand on a line of its own)."""
    return len(token) > 1 and token[1] == ":" and token_kind(token) == "field"


@functools.lru_cache(maxsize=1 << 16)
def _is_field_only_at_line_start(token: str) -> bool:
    """Whether ``token`` reads as a field at a line start but as itself elsewhere: ``+:trill+`` is the field
    continuation ``+:`` at a line start and a decoration after anything else."""
    return _is_field(token) and [m.group() for m in _SCANNER.finditer("\0" + token)] == ["\0", token]


@functools.lru_cache(maxsize=1 << 16)
def _glue_changes(left: str, right: str, left_starts_line: bool) -> bool:
    """Whether ``left + right`` reads as other tokens than ``[left, right]`` (``||`` then ``|:`` reads ``|||:``),
    where ``left`` stands: at a line start ``A`` then ``:`` reads as the field ``A:``, elsewhere not."""
    if left_starts_line:
        return [m.group() for m in _SCANNER.finditer(left + right)] != [left, right]
    # "\0" is a ``char`` of its own, which joins no token: what follows it is not at a line start
    return [m.group() for m in _SCANNER.finditer("\0" + left + right)] != ["\0", left, right]


def _kind_of(match: re.Match[str]) -> str:
    kind = match.lastgroup
    assert kind is not None  # every alternative is a named group
    return kind


def token_kind(token: str) -> str:
    """The kind (one of :data:`TOKEN_KINDS`) of a token that :class:`ABCTokenizer` produces.

    A ``field`` token is recognised as such when read on its own (it is a line start then).
    """
    if token == " ":
        return "space"
    match = _SCANNER.match(token)
    if match is None or match.end() != len(token):
        raise ValueError(f"{token!r} is not one ABC token")
    return _kind_of(match)


class ABCTokenizer(Tokenizer):
    """ABC text -> tokens as a musician reads them (the rules are in the module docstring).

    Args:
        spaces: keep each run of spaces and tabs as one ``" "`` token (beaming); by default they are
            dropped, and ``detokenize(tokenize(text))`` equals ``text`` modulo whitespace.

    ``tokenize`` never fails: a character no rule names becomes a ``char`` token of its own.
    """

    type_name = "abc"

    def __init__(self, spaces: bool = False) -> None:
        if not isinstance(spaces, bool):
            raise ValueError(f"spaces must be true or false, got {spaces!r}")
        self.spaces = spaces

    def tokenize(self, text: str) -> list[str]:
        tokens: list[str] = []
        for match in _SCANNER.finditer(text):
            kind = _kind_of(match)
            if kind == "space":
                if self.spaces:
                    tokens.append(" ")
            elif kind in _LINE_TOKENS:
                tokens.append(match.group().rstrip())
            elif kind == "newline":
                tokens.append("\n")
            else:
                tokens.append(match.group())
        return tokens

    def detokenize(self, tokens: Sequence[str]) -> str:
        parts: list[str] = []
        left_starts_line = False  # whether the token before stands at a line start
        for i, token in enumerate(tokens):
            field = _is_field(token)
            line_start, indent = not parts or parts[-1].endswith("\n"), False
            if field and _is_field_only_at_line_start(token):
                followed_on_its_line = i + 1 < len(tokens) and tokens[i + 1] != "\n"
                # a decoration where it stands; at a line start too when more follows (a field ends its
                # line), and then indented so that it reads as one
                indent = line_start and followed_on_its_line and not self.spaces
                field = line_start and not indent
            if indent:
                parts.append(" ")
            elif not line_start:
                if field:
                    parts.append("\n")
                # without space tokens a space costs nothing, and the check reads the pair as at a line start,
                # where more pairs merge: reading only the pair, it cannot see ``[`` before ``A`` ``:`` ``]``
                # (an inline field). With space tokens it reads the pair where it stands: added spaces would be
                # tokens of their own
                elif _glue_changes(tokens[i - 1], token, left_starts_line or not self.spaces):
                    parts.append(" ")
            parts.append(token)
            left_starts_line = (line_start or field) and not indent
            if (field or token[:1] == "%") and i + 1 < len(tokens) and tokens[i + 1] != "\n":
                parts.append("\n")
        return "".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type_name, "spaces": self.spaces}


# ---------------------------------------------------------------------------------------- token meanings
class Note(NamedTuple):
    """A ``note`` token read: ``^c'2`` -> ``Note("^", "c", 1, Fraction(2))``.

    Attributes:
        accidental: ``""``, ``"^"``, ``"^^"``, ``"_"``, ``"__"`` or ``"="``.
        letter: ``A``-``G`` (the octave from middle C up) or ``a``-``g`` (the octave above).
        octave: ``'`` marks minus ``,`` marks.
        length: the multiple of the unit note length ``L:``.
    """

    accidental: str
    letter: str
    octave: int
    length: Fraction


_NOTE = re.compile(r"(\^\^|\^|__|_|=)?([A-Ga-g])([,']*)(" + LENGTH + r")?\Z")


def parse_length(text: str) -> Fraction:
    """A length suffix as a multiple of ``L:``: ``""`` -> 1, ``"2"`` -> 2, ``"3/2"`` -> 3/2, ``"/2"`` and
    ``"/"`` -> 1/2, ``"//"`` -> 1/4, ``"3/"`` -> 3/2 (ABC 2.1, section 4.3: each bare slash halves)."""
    if not text:
        return Fraction(1)
    if not re.fullmatch(LENGTH, text):
        raise ValueError(f"{text!r} is not an ABC note length (e.g. 2, 3/2, /2, /)")
    numerator, slashes, denominator = re.fullmatch(r"(\d*)(/*)(\d*)", text).groups()  # type: ignore[union-attr]
    value = Fraction(int(numerator) if numerator else 1)
    if denominator and int(denominator) == 0:
        raise ValueError(f"{text!r} is not an ABC note length: it divides by zero")
    if denominator:
        return value / int(denominator) / 2 ** (len(slashes) - 1)
    return value / 2 ** len(slashes)


def parse_note(token: str) -> Note:
    """Read a ``note`` token into a :class:`Note`; ``ValueError`` for any other string."""
    match = _NOTE.match(token)
    if match is None:
        raise ValueError(f"{token!r} is not an ABC note token (e.g. ^c'2)")
    accidental, letter, marks, length = match.groups()
    return Note(accidental or "", letter, marks.count("'") - marks.count(","), parse_length(length or ""))


def parse_meter(value: str) -> Fraction | None:
    """The length of a bar in whole notes from an ``M:`` value: ``6/8`` -> 3/4, ``2+3/8`` -> 5/8,
    ``C`` (common time) -> 1, ``C|`` (cut time) -> 1; ``none`` (free meter) -> None. ``ValueError`` else."""
    text = value.strip()
    if text.lower() == "none":
        return None
    if text in ("C", "C|"):
        return Fraction(1)
    match = re.fullmatch(r"\(?(\d+(?:\+\d+)*)\)?\s*/\s*(\d+)", text)
    if match is None or int(match.group(2)) == 0:
        raise ValueError(f"M:{value} is not a meter (e.g. M:6/8, M:2+3/8, M:C, M:C|, M:none)")
    return Fraction(sum(int(n) for n in match.group(1).split("+")), int(match.group(2)))


def parse_unit_length(value: str) -> Fraction:
    """An ``L:`` value in whole notes: ``1/8`` -> 1/8, ``1`` -> 1. ``ValueError`` else."""
    match = re.fullmatch(r"\s*(\d+)\s*(?:/\s*(\d+))?\s*", value)
    if match is None or int(match.group(1)) == 0 or match.group(2) is not None and int(match.group(2)) == 0:
        raise ValueError(f"L:{value} is not a unit note length (e.g. L:1/8)")
    return Fraction(int(match.group(1)), int(match.group(2) or 1))


def default_unit_length(meter: Fraction | None) -> Fraction:
    """The unit note length of a tune without ``L:`` (ABC 2.1, section 3.1.7): the meter ``M:`` as a decimal
    below 0.75 gives 1/16 (``M:2/4``, ``M:3/8``), 0.75 or more gives 1/8 (``M:3/4``, ``M:4/4``, ``M:6/8``);
    a free meter (``M:none``) or none at all gives 1/8."""
    return Fraction(1, 16) if meter is not None and meter < Fraction(3, 4) else Fraction(1, 8)


__all__ = [
    "ABCTokenizer",
    "LENGTH",
    "Note",
    "TOKEN_KINDS",
    "default_unit_length",
    "parse_length",
    "parse_meter",
    "parse_note",
    "parse_unit_length",
    "token_kind",
]
