"""Checks of a folk tune in ABC notation (generated or real): does it parse, are its bars as long as its
meter says, how many of its notes lie in its key's scale.

(a) **parses** (:func:`parses`): music21's ABC reader reads the tune without an error and finds at
    least one note (a ``Note`` or ``Chord``; chord symbols and rests do not count). music21 needs an
    ``M:`` or ``L:`` field to read note lengths.
(b) **bar lengths** (:func:`check_bars`): the tune is read with :class:`~seqmodels.data.abc_tokens.ABCTokenizer`
    and its notes' lengths summed between bar lines, in whole notes: a note of length ``n`` lasts
    ``n * L`` (``L:``; without it the standard's default, 1/16 when the header's meter is below 3/4 and
    1/8 otherwise, :func:`~seqmodels.data.abc_tokens.default_unit_length`); broken rhythm moves half
    (``>``), three quarters (``>>``), ... of the first note's length to the second; a tuplet ``(p:q:r``
    plays the next ``r`` notes (default ``p``) in ``q/p`` of their length (``q`` by default 3 for
    ``p`` = 2, 4, 8; 2 for ``p`` = 3, 6; for 5, 7, 9: 3 in a compound meter, else 2); a chord lasts as
    long as its first note times the length after ``]``; grace notes take no time. A bar is what stands
    between two bar lines (``|``, ``||``, ``|:``, ``:|``, ``|1``, ...); a bar without a note or rest is
    no bar (the space between ``||`` and ``|:``). Every bar must last as long as the meter (``M:6/8``: 3/4
    of a whole note) in force at its first note, except the first and the last bar, which may be
    shorter (an anacrusis and the bar that completes it). A bar with a multi-bar rest ``Z`` is taken
    as right. A tune without a meter (no ``M:``, or ``M:none``) has no bar to check.
(c) **in-scale share** (:func:`scale_share`): the share of the tune's notes (chords: each note; grace
    notes and rests left out) whose pitch class lies in the scale of the key in force (``K:`` in the
    header, then any ``K:`` line or ``[K:]`` field in the body): the 7 pitch classes of the key's
    diatonic scale, as music21 gives it for the ``K:`` value (a mode has its key signature's pitch
    classes: ``K:Ador`` is A B C D E F# G, ``K:Gmix`` G A B C D E F).

Pitches for (c) follow standard notation: a note takes the key signature's sharp or flat unless an
accidental (``^ ^^ _ __ =``) stands before it, and that accidental holds for the notes of the same
letter and octave up to the end of the bar (and for a note tied across the bar line). music21 10
applies an accidental to its own note only and ignores ``[K:]`` fields, so (b) and (c) read the tune
themselves; music21 reads the ``K:`` values (``Ador``, ``F#m``, ``Bb``, ...).

music21 is the optional dependency ``pip install 'seqmodels[music]'``; it is imported when a check runs.
``python -m seqmodels.inference.abc_checks FILES... [--split test]`` prints the figures over files of tunes.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from ..data.abc_tokens import (
    ABCTokenizer,
    default_unit_length,
    parse_length,
    parse_meter,
    parse_note,
    parse_unit_length,
    token_kind,
)
from ..data.corpora.abc import SPLITS, AbcCorpus

INSTALL = "pip install 'seqmodels[music]'"
_STEP_PITCH = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_ACCIDENTAL = {"^": 1, "^^": 2, "_": -1, "__": -2, "=": 0}
_TUPLET_Q = {2: 3, 3: 2, 4: 3, 6: 2, 8: 3}


def music21() -> Any:
    """The music21 module, or ``ImportError`` saying how to install it."""
    try:
        return importlib.import_module("music21")
    except ImportError as err:
        raise ImportError(f"the ABC checks need music21, the seqmodels[music] extra: {INSTALL}") from err


# ---------------------------------------------------------------------------------------------- (a)
@dataclass(frozen=True)
class ParseResult:
    """(a): ``ok`` when music21 read the tune and found ``notes`` >= 1 notes; ``error`` says why not."""

    ok: bool
    notes: int
    error: str | None = None


def parses(text: str) -> ParseResult:
    """Check (a) on one tune's ABC text (see the module docstring)."""
    m21 = music21()
    try:
        score = m21.converter.parse(text, format="abc")
    except Exception as err:  # music21 raises many kinds for bad input; each is a failed parse
        return ParseResult(False, 0, f"{type(err).__name__}: {err}")
    notes = sum(
        1
        for n in score.flatten().notes
        if isinstance(n, (m21.note.Note, m21.chord.Chord)) and not isinstance(n, m21.harmony.ChordSymbol)
    )
    return ParseResult(notes > 0, notes, None if notes else "no note")


# ---------------------------------------------------------------------------------------------- reading
@dataclass(frozen=True)
class Key:
    """A ``K:`` value read by music21: the alteration (in semitones) of each letter, and the scale's pitch classes."""

    value: str
    alterations: dict[str, int]
    scale: frozenset[int]


_KEY = re.compile(r"\s*(?:(HP|Hp)|([A-Ga-g])([#b]?)\s*([A-Za-z]*))")
_MODES = {
    "": "major", "maj": "major", "ion": "major", "m": "minor", "min": "minor", "aeo": "minor",
    "mix": "mixolydian", "dor": "dorian", "phr": "phrygian", "lyd": "lydian", "loc": "locrian",
}  # fmt: skip


@functools.lru_cache(maxsize=256)
def read_key(value: str) -> Key:
    """The key of a ``K:`` value (``G``, ``Ador``, ``F#m``, ``Bb``, ``Gmix``, ``D loc``, ``HP``, ``none``).

    ABC 2.1, section 3.1.14: a tonic ``A``-``G`` with ``#`` or ``b``, then a mode of which the first three
    letters count (``maj ion min aeo mix dor phr lyd loc``; ``m`` alone is minor; none is major); ``HP`` has
    no sharps or flats, ``Hp`` F# C# (Highland pipes). music21 turns the tonic and mode into the key
    signature (music21 10's own ``K:`` reader lacks the locrian mode). Anything else (``none``, a clef
    alone) has no sharps or flats; explicit accidentals after the mode (``K:D =c``) are not read.
    """
    m21 = music21()
    match = _KEY.match(value)
    sharps = 0
    if match is not None and match.group(1):
        sharps = 0 if match.group(1) == "HP" else 2
    elif match is not None and match.group(2):
        mode = _MODES.get(match.group(4).lower()[:3], _MODES.get(match.group(4).lower()[:1], "major"))
        tonic = match.group(2).upper() + {"#": "#", "b": "-", "": ""}[match.group(3)]
        sharps = m21.key.pitchToSharps(tonic, mode)
    signature = m21.key.KeySignature(sharps)
    alterations = {}
    for step in _STEP_PITCH:
        accidental = signature.accidentalByStep(step)
        alterations[step] = int(accidental.alter) if accidental is not None else 0
    scale = frozenset((_STEP_PITCH[s] + a) % 12 for s, a in alterations.items())
    return Key(value, alterations, scale)


@dataclass
class Event:
    """A note, chord or rest as read: ``midi`` numbers (C4 = 60 = ABC ``C``; empty for a rest), length in
    whole notes, the bar it is in (index into :attr:`Reading.bars`), the key in force, grace or not."""

    midi: tuple[int, ...]
    length: Fraction
    bar: int
    key: Key
    grace: bool = False


@dataclass
class Bar:
    """The notes between two bar lines: their total ``length`` and the ``meter`` in force at the first
    (both in whole notes; ``meter`` None for a free meter), the bar lines that start and end it (``""``
    at the tune's start and end), whether a part label (a ``P:`` line) stands before its music, and whether a
    note length in it could not be read (``A/0``: the bar is wrong)."""

    length: Fraction = Fraction(0)
    meter: Fraction | None = None
    has_music: bool = False
    multi_rest: bool = False
    start: str = ""
    end: str = ""
    new_part: bool = False
    unreadable: bool = False


@dataclass
class Reading:
    """A tune read token by token: its notes (:class:`Event`) and bars (:class:`Bar`, with music only)."""

    events: list[Event] = field(default_factory=list)
    bars: list[Bar] = field(default_factory=list)


class _Reader:
    """The state of reading one tune: meter, unit, key, accidentals of the bar, tuplet, broken rhythm, chord, grace."""

    def __init__(self) -> None:
        self.reading = Reading()
        self.meter: Fraction | None = None
        self.unit: Fraction | None = None
        self.header = True
        self.key = read_key("C")
        self.bar = Bar()
        self.bar_accidentals: dict[tuple[str, int], int] = {}
        self.tie: tuple[str, int, int] | None = None  # (letter, octave, alteration) of a note with a tie after it
        self.last_note: tuple[str, int, int] | None = None
        self.tuplet_left = 0
        self.tuplet_factor = Fraction(1)
        self.next_factor = Fraction(1)  # broken rhythm's share for the next note
        self.chord: list[int] | None = None
        self.chord_length: Fraction | None = None
        self.grace = False
        self.part_mark = False  # a P: line since the last note

    def field(self, letter: str, value: str) -> None:
        if letter == "M":
            try:
                self.meter = parse_meter(value)
            except ValueError:
                self.meter = None
        elif letter == "L":
            try:
                self.unit = parse_unit_length(value)
            except ValueError:
                pass
        elif letter == "P" and not self.header:
            self.part_mark = True
        elif letter == "K":
            self.key = read_key(value)
            if self.header:
                self.header = False
                if self.unit is None:
                    self.unit = default_unit_length(self.meter)

    def pitch(self, token: str) -> tuple[int, Fraction]:
        """A note token's midi number (the bar's accidentals, ties and the key applied) and length."""
        note = parse_note(token)
        step = note.letter.upper()
        octave = (4 if note.letter.isupper() else 5) + note.octave
        if note.accidental:
            alter = _ACCIDENTAL[note.accidental]
            self.bar_accidentals[(step, octave)] = alter
        elif self.tie is not None and self.tie[:2] == (step, octave):
            alter = self.tie[2]
        else:
            alter = self.bar_accidentals.get((step, octave), self.key.alterations[step])
        self.tie = None
        self.last_note = (step, octave, alter)
        return 12 * (octave + 1) + _STEP_PITCH[step] + alter, note.length

    def timed(self, midi: tuple[int, ...], length: Fraction) -> None:
        """Add a note, chord or rest of ``length`` units (tuplet and broken rhythm applied) to the bar."""
        if self.grace:
            self.reading.events.append(Event(midi, Fraction(0), len(self.reading.bars), self.key, grace=True))
            return
        duration = (self.unit or Fraction(1, 8)) * length * self.next_factor
        self.next_factor = Fraction(1)
        if self.tuplet_left > 0:
            duration *= self.tuplet_factor
            self.tuplet_left -= 1
        if not self.bar.has_music:
            self.bar.has_music = True
            self.bar.meter = self.meter
            self.bar.new_part, self.part_mark = self.part_mark, False
        self.bar.length += duration
        self.reading.events.append(Event(midi, duration, len(self.reading.bars), self.key))

    def broken(self, token: str) -> None:
        previous = next((e for e in reversed(self.reading.events) if not e.grace), None)
        if previous is None or previous.bar != len(self.reading.bars):
            return  # nothing to shorten or lengthen in this bar
        share = Fraction(1, 2 ** len(token))  # > : 1/2, >> : 1/4, ...
        first, second = (2 - share, share) if token[0] == ">" else (share, 2 - share)
        self.bar.length += previous.length * (first - 1)
        previous.length *= first
        self.next_factor = second

    def tuplet(self, token: str) -> None:
        parts = token[1:].split(":")
        p = int(parts[0])
        compound = self.meter is not None and self.meter.numerator % 3 == 0 and self.meter.numerator > 3
        q = int(parts[1]) if len(parts) > 1 and parts[1] else _TUPLET_Q.get(p, 3 if compound else 2)
        r = int(parts[2]) if len(parts) > 2 and parts[2] else p
        if p > 0:
            self.tuplet_factor, self.tuplet_left = Fraction(q, p), r

    def end_bar(self, token: str) -> None:
        self.bar.end = token
        if self.bar.has_music or self.bar.multi_rest or self.bar.unreadable:
            self.reading.bars.append(self.bar)
            self.bar = Bar(start=token)
        else:  # no bar: the space between ``||`` and ``|:``; the later line starts the next bar
            self.bar = Bar(start=token if _is_section(token) or not _is_section(self.bar.start) else self.bar.start)
        self.bar_accidentals = {}

    def token(self, token: str) -> None:
        try:
            self._token(token)
        except (ValueError, ZeroDivisionError):  # a length or value that means nothing (A/0, M:1/0, (0)
            self.bar.unreadable = True

    def _token(self, token: str) -> None:
        kind = token_kind(token) if token != "\n" else "newline"
        if kind == "field":
            self.field(token[0], token[2:].strip())
        elif kind == "inline_field":
            self.field(token[1], token[3:-1].strip())
        elif self.header:
            return  # a stray token before K:: music21 decides (a); no bar or note here
        elif kind == "note":
            midi, length = self.pitch(token)
            if self.chord is not None:
                self.chord.append(midi)
                if self.chord_length is None:
                    self.chord_length = length
            else:
                self.timed((midi,), length)
        elif kind == "rest":
            self.timed((), parse_length(token[1:]))
        elif kind == "measure_rest":
            self.bar.multi_rest = True
        elif kind == "chord_start":
            self.chord, self.chord_length = [], None
        elif kind == "chord_end" and self.chord is not None:
            notes, length = tuple(self.chord), self.chord_length or Fraction(1)
            self.chord = None
            if notes:
                self.timed(notes, length * parse_length(token[1:]))
        elif kind == "grace_start":
            self.grace = True
        elif kind == "grace_end":
            self.grace = False
        elif kind == "tie":
            self.tie = self.last_note
        elif kind == "broken":
            self.broken(token)
        elif kind == "tuplet":
            self.tuplet(token)
        elif kind == "bar":
            self.end_bar(token)


def read_tune(text: str) -> Reading:
    """The notes and bars of one tune's ABC text (the header's fields, then the body; see the module docstring)."""
    reader = _Reader()
    for token in ABCTokenizer().tokenize(text):
        reader.token(token)
    reader.end_bar("")
    return reader.reading


# ---------------------------------------------------------------------------------------------- (b), (c)
@dataclass(frozen=True)
class BarCheck:
    """(b): ``lengths`` and ``expected`` of every bar (whole notes; expected None: free meter), the indices
    of the ``wrong`` ones; ``all_right`` None when no bar could be checked."""

    lengths: tuple[Fraction, ...]
    expected: tuple[Fraction | None, ...]
    wrong: tuple[int, ...]
    all_right: bool | None


def _is_section(bar_line: str) -> bool:
    """A bar line that ends a part or a repeat: a double bar (``||``, ``|]``, ``[|``) or a repeat sign."""
    return ":" in bar_line or "||" in bar_line or "]" in bar_line or "[" in bar_line


def _short(bar: Bar) -> bool:
    return bar.meter is not None and not bar.multi_rest and not bar.unreadable and bar.length < bar.meter


def check_bars(text: str | Reading) -> BarCheck:
    """Check (b) (see the module docstring)."""
    reading = read_tune(text) if isinstance(text, str) else text
    bars = reading.bars
    right = [not b.unreadable and (b.meter is None or b.multi_rest or b.length == b.meter) for b in bars]
    right[:1] = [right[0] or _short(bars[0])] if bars else []
    right[-1:] = [right[-1] or _short(bars[-1])] if bars else []
    section_start = 0  # the first bar of the section a repeat sign goes back to
    for i, bar in enumerate(bars):
        if bar.start.endswith(":"):
            section_start = i
        partners = []
        if i + 1 < len(bars) and (_is_section(bar.end) or _is_section(bars[i + 1].start) or bars[i + 1].new_part):
            partners.append(i + 1)  # the end of a part and the pickup of the next
        if bar.end.startswith(":") and section_start < i:
            partners.append(section_start)  # the end of a repeat (or a first ending) and the pickup it goes back to
        for j in partners:
            if _short(bar) and _short(bars[j]) and bar.length + bars[j].length == bar.meter:
                right[i] = right[j] = True
    wrong = [i for i, ok in enumerate(right) if not ok]
    checked = sum(1 for b in bars if b.unreadable or (b.meter is not None and not b.multi_rest))
    return BarCheck(
        tuple(b.length for b in bars),
        tuple(b.meter for b in bars),
        tuple(wrong),
        (not wrong) if checked else None,
    )


@dataclass(frozen=True)
class ScaleCheck:
    """(c): ``in_scale`` of ``notes`` notes lie in their key's scale; ``share`` None when there is no note."""

    notes: int
    in_scale: int

    @property
    def share(self) -> float | None:
        return self.in_scale / self.notes if self.notes else None


def scale_share(text: str | Reading) -> ScaleCheck:
    """Check (c) (see the module docstring)."""
    reading = read_tune(text) if isinstance(text, str) else text
    pitches = [(m % 12, e.key.scale) for e in reading.events if not e.grace for m in e.midi]
    return ScaleCheck(len(pitches), sum(pc in scale for pc, scale in pitches))


# ---------------------------------------------------------------------------------------------- all three
@dataclass(frozen=True)
class TuneCheck:
    """The three checks of one tune."""

    parse: ParseResult
    bars: BarCheck
    scale: ScaleCheck


def check_tune(text: str) -> TuneCheck:
    """(a), (b) and (c) of one tune's ABC text (header and body)."""
    reading = read_tune(text)
    return TuneCheck(parses(text), check_bars(reading), scale_share(reading))


def summarize(checks: Sequence[TuneCheck]) -> dict[str, Any]:
    """Figures over many tunes: ``tunes``; ``parse_share`` (share that parse); ``bars_share`` (share with
    every bar right, among the tunes with a bar to check, ``bars_checked`` of them); ``scale_mean`` (mean
    in-scale share over the tunes with a note)."""
    n = len(checks)
    with_bars = [c.bars.all_right for c in checks if c.bars.all_right is not None]
    shares = [s for c in checks if (s := c.scale.share) is not None]
    return {
        "tunes": n,
        "parse_share": sum(c.parse.ok for c in checks) / n if n else None,
        "bars_checked": len(with_bars),
        "bars_share": sum(with_bars) / len(with_bars) if with_bars else None,
        "scale_mean": sum(shares) / len(shares) if shares else None,
    }


def check_tunes(texts: Iterable[str]) -> dict[str, Any]:
    """:func:`summarize` of :func:`check_tune` over ``texts``."""
    return summarize([check_tune(text) for text in texts])


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m seqmodels.inference.abc_checks PATH... [--split test]``: the three checks' figures
    (:func:`summarize`) over the tunes of ABC files or folders, printed as JSON."""
    parser = argparse.ArgumentParser(
        prog="python -m seqmodels.inference.abc_checks", description="Check folk tunes in ABC notation."
    )
    parser.add_argument("paths", nargs="+", help=".abc files or folders of them")
    parser.add_argument("--split", default="all", choices=["all", *SPLITS], help="the tunes of one split (seeded)")
    parser.add_argument("--seed", type=int, default=0, help="the split's seed (default 0, 80/10/10)")
    args = parser.parse_args(argv)
    corpus = AbcCorpus(args.paths, seed=args.seed)
    tunes = corpus.all_tunes if args.split == "all" else corpus.tunes(args.split)
    print(json.dumps(check_tunes(tune.text for tune in tunes), indent=2))
    return 0


__all__ = [
    "INSTALL",
    "Bar",
    "BarCheck",
    "Event",
    "Key",
    "ParseResult",
    "Reading",
    "ScaleCheck",
    "TuneCheck",
    "check_bars",
    "check_tune",
    "check_tunes",
    "music21",
    "parses",
    "read_key",
    "read_tune",
    "scale_share",
    "main",
    "summarize",
]


if __name__ == "__main__":
    raise SystemExit(main())
