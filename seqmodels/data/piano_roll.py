"""MIDI files as piano rolls: one 88-key multi-hot frame per step of a fixed beat grid.

The grid is ``steps_per_quarter`` steps per quarter note (default 2: an eighth note), measured in the
file's own ticks (``resolution`` ticks per quarter note), so it follows the score whatever the tempo
and survives tempo changes. Boulanger-Lewandowski et al. (2012) aligned their four polyphonic sets,
Nottingham among them, on a fraction of a beat in the same way. The eighth-note default is read off the
data: on the Jukedeck Nottingham MIDI files (every file 120 bpm, 1024 ticks per quarter) 98.6 % of the
356,269 note onsets lie on the eighth-note grid (99.5 % on the sixteenth-note grid, which doubles the
sequence length; the quarter-note grid would merge most melody notes).

A note sounding from tick ``s`` to tick ``e`` turns key ``pitch - 21`` on in frames
``round(s / step) .. max(round(e / step), round(s / step) + 1) - 1`` (round half up; a note shorter
than a step keeps one frame), where ``step = resolution / steps_per_quarter`` ticks. The roll has
``T = max end frame`` frames. Keys are the piano's 88, A0 (MIDI 21) to C8 (MIDI 108); notes outside
are dropped and counted, as are drum-track notes (their numbers are drum kinds, not pitches). Two
notes of the same pitch that touch become one held note: a piano roll has no onsets.

Errors name the file: :class:`MidiFileError` for an empty file, one that is not MIDI, and one without
any note in the 88-key range.

MIDI is read with ``pretty_midi`` (over ``mido``), the ``music`` extra: ``pip install seqmodels[music]``.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

LOWEST_KEY = 21  # A0, the piano's lowest key
HIGHEST_KEY = 108  # C8, its highest
NUM_KEYS = HIGHEST_KEY - LOWEST_KEY + 1  # 88

INSTALL_HINT = "pip install seqmodels[music]"


class MidiFileError(ValueError):
    """A MIDI file that cannot become a piano roll; the message names the file."""


def import_pretty_midi() -> Any:
    """The ``pretty_midi`` module, or an ``ImportError`` saying how to install it."""
    try:
        import pretty_midi
    except ImportError as error:
        raise ImportError(f"reading and writing MIDI needs pretty_midi: {INSTALL_HINT}") from error
    return pretty_midi


@dataclass
class PianoRoll:
    """A quantised MIDI file.

    Attributes:
        frames: bool (T, 88), ``frames[t, k]`` is True when key ``k`` (MIDI pitch ``21 + k``) sounds at step t.
        steps_per_quarter: the grid.
        notes: notes in range (each counted once, however many frames it covers).
        out_of_range: notes dropped for a pitch outside 21..108.
        drum_notes: notes of drum tracks, dropped.
        off_grid: notes in range whose onset did not lie on the grid (moved to the nearest step).
        path: the file.
    """

    frames: np.ndarray
    steps_per_quarter: int
    notes: int
    out_of_range: int
    drum_notes: int
    off_grid: int
    path: Path | None = None

    def __len__(self) -> int:
        return int(self.frames.shape[0])


def _round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


def load_midi(path: str | os.PathLike[str]) -> Any:
    """``pretty_midi.PrettyMIDI`` of ``path``; :class:`MidiFileError` naming the file when it is empty or not MIDI."""
    pretty_midi = import_pretty_midi()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"MIDI file {path} not found")
    if path.stat().st_size == 0:
        raise MidiFileError(f"{path}: the file is empty, not a MIDI file")
    try:
        with warnings.catch_warnings():
            # pretty_midi warns about tempo/meter events on tracks other than the first; the tick grid ignores them
            warnings.simplefilter("ignore", RuntimeWarning)
            return pretty_midi.PrettyMIDI(str(path))
    except Exception as error:  # mido/pretty_midi raise OSError, EOFError, KeyError, ValueError ... on bad bytes
        raise MidiFileError(f"{path}: not a readable MIDI file ({type(error).__name__}: {error})") from error


def midi_to_piano_roll(midi: Any, steps_per_quarter: int = 2, path: str | os.PathLike[str] | None = None) -> PianoRoll:
    """Quantise a ``pretty_midi.PrettyMIDI`` onto the grid (see the module docstring).

    ``path`` only names the file in errors. :class:`MidiFileError` when no note lies in the 88-key range.
    """
    if isinstance(steps_per_quarter, bool) or not isinstance(steps_per_quarter, int) or steps_per_quarter < 1:
        raise ValueError(f"steps_per_quarter must be a positive integer, got {steps_per_quarter!r}")
    name = str(path) if path is not None else "MIDI data"
    step = midi.resolution / steps_per_quarter  # ticks per frame
    spans: list[tuple[int, int, int]] = []  # (key, first frame, end frame)
    out_of_range = drum_notes = off_grid = 0
    for instrument in midi.instruments:
        if instrument.is_drum:
            drum_notes += len(instrument.notes)
            continue
        for note in instrument.notes:
            if not LOWEST_KEY <= note.pitch <= HIGHEST_KEY:
                out_of_range += 1
                continue
            start = midi.time_to_tick(note.start) / step  # in frames
            first = _round_half_up(start)
            end = max(_round_half_up(midi.time_to_tick(note.end) / step), first + 1)
            off_grid += abs(start - first) > 1e-9
            spans.append((note.pitch - LOWEST_KEY, first, end))
    if not spans:
        found = f"{out_of_range} note(s) outside it" if out_of_range else "no notes"
        raise MidiFileError(
            f"{name}: no note in the piano's range A0-C8 (MIDI {LOWEST_KEY}-{HIGHEST_KEY}); the file has {found}"
            + (f" and {drum_notes} drum note(s)" if drum_notes else "")
        )
    frames = np.zeros((max(end for _, _, end in spans), NUM_KEYS), dtype=bool)  # (T, 88)
    for key, first, end in spans:
        frames[first:end, key] = True
    return PianoRoll(
        frames=frames,
        steps_per_quarter=steps_per_quarter,
        notes=len(spans),
        out_of_range=out_of_range,
        drum_notes=drum_notes,
        off_grid=int(off_grid),
        path=Path(path) if path is not None else None,
    )


def read_piano_roll(path: str | os.PathLike[str], steps_per_quarter: int = 2) -> PianoRoll:
    """Read and quantise one MIDI file (see the module docstring); errors name the file."""
    return midi_to_piano_roll(load_midi(path), steps_per_quarter, path)
