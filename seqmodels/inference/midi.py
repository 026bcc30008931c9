"""Piano rolls out: roll -> MIDI file (``pretty_midi``), MIDI -> audio -> WAV file.

:func:`piano_roll_to_midi` is the inverse of :func:`~seqmodels.data.piano_roll.read_piano_roll` on its
grid: each run of consecutive frames in which a key sounds becomes one note, from the run's first frame
to the frame after its last, one frame lasting ``60 / tempo / steps_per_quarter`` seconds; reading the
file back gives the same frames.

:func:`synthesize` plays a ``PrettyMIDI`` through FluidSynth with a General MIDI soundfont when that is
available (the ``pyfluidsynth`` package and its ``libfluidsynth``, with ``soundfont=``,
``$SEQMODELS_SOUNDFONT``, or the TimGM6mb.sf2 that ``pretty_midi`` ships), else through the small
additive synthesizer of :mod:`seqmodels.inference.synth`, so it always works offline.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..data.piano_roll import LOWEST_KEY, import_pretty_midi
from .synth import additive_synth, write_wav

log = logging.getLogger(__name__)

SOUNDFONT_ENV = "SEQMODELS_SOUNDFONT"
ENGINES = ("auto", "fluidsynth", "builtin")


def piano_roll_to_midi(
    frames: np.ndarray,
    steps_per_quarter: int = 2,
    tempo: float = 120.0,
    program: int = 0,
    velocity: int = 90,
    lowest_key: int = LOWEST_KEY,
) -> Any:
    """A ``pretty_midi.PrettyMIDI`` of a (T, K) roll (bool or 0/1; key k is MIDI pitch ``lowest_key + k``).

    One instrument (General MIDI ``program``, 0 = acoustic grand piano), every note at ``velocity``.
    """
    pretty_midi = import_pretty_midi()
    roll = np.asarray(frames) > 0.5
    if roll.ndim != 2:
        raise ValueError(f"frames must be a (T, keys) array, got shape {roll.shape}")
    if isinstance(steps_per_quarter, bool) or not isinstance(steps_per_quarter, int) or steps_per_quarter < 1:
        raise ValueError(f"steps_per_quarter must be a positive integer, got {steps_per_quarter!r}")
    if not tempo > 0:
        raise ValueError(f"tempo must be a positive number of quarter notes per minute, got {tempo!r}")
    seconds = 60.0 / tempo / steps_per_quarter  # one frame
    midi = pretty_midi.PrettyMIDI(resolution=480 * steps_per_quarter, initial_tempo=float(tempo))
    instrument = pretty_midi.Instrument(program=program)
    padded = np.zeros((roll.shape[0] + 2, roll.shape[1]), dtype=np.int8)  # (T + 2, K): silence on both ends
    padded[1:-1] = roll
    changes = np.diff(padded, axis=0)  # (T + 1, K): +1 where a run starts, -1 after it ends
    for key in range(roll.shape[1]):
        starts = np.flatnonzero(changes[:, key] == 1)
        ends = np.flatnonzero(changes[:, key] == -1)
        for first, end in zip(starts, ends):
            instrument.notes.append(
                pretty_midi.Note(velocity=velocity, pitch=lowest_key + key, start=first * seconds, end=end * seconds)
            )
    instrument.notes.sort(key=lambda n: (n.start, n.pitch))
    midi.instruments.append(instrument)
    return midi


def write_midi(
    path: str | os.PathLike[str], frames: np.ndarray, steps_per_quarter: int = 2, tempo: float = 120.0
) -> Path:
    """:func:`piano_roll_to_midi` written to ``path``; returns the path."""
    path = Path(path)
    piano_roll_to_midi(frames, steps_per_quarter, tempo).write(str(path))
    return path


def find_soundfont(soundfont: str | os.PathLike[str] | None = None) -> Path | None:
    """The ``.sf2`` to use: ``soundfont``, else ``$SEQMODELS_SOUNDFONT``, else the one pretty_midi ships; None if
    none of them is a file."""
    candidates: list[Any] = [soundfont, os.environ.get(SOUNDFONT_ENV)]
    try:
        import pretty_midi.fluidsynth as pm_fluidsynth

        candidates.append(Path(pm_fluidsynth.__file__).parent / pm_fluidsynth.DEFAULT_SF2)
    except Exception:  # pretty_midi absent or laid out differently: no bundled soundfont
        pass
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def fluidsynth_available() -> bool:
    """Whether ``pyfluidsynth`` imports (it loads ``libfluidsynth``)."""
    try:
        import fluidsynth  # noqa: F401
    except Exception:  # ImportError, or OSError from a missing shared library
        return False
    return True


def synthesize(
    midi: Any, sample_rate: int = 22050, engine: str = "auto", soundfont: str | os.PathLike[str] | None = None
) -> np.ndarray:
    """Float32 mono samples in [-1, 1] of a ``PrettyMIDI``.

    Args:
        midi: the music.
        sample_rate: samples per second.
        engine: ``fluidsynth`` (needs pyfluidsynth and a soundfont), ``builtin`` (the additive synth), or
            ``auto``: FluidSynth when available, else the built-in synth.
        soundfont: a General MIDI ``.sf2`` for FluidSynth (see :func:`find_soundfont`).
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {list(ENGINES)}, got {engine!r}")
    if engine != "builtin":
        sf2 = find_soundfont(soundfont)
        if fluidsynth_available() and sf2 is not None:
            audio = midi.fluidsynth(fs=sample_rate, synthesizer=str(sf2))
            return np.asarray(audio, dtype=np.float32)
        if engine == "fluidsynth":
            raise RuntimeError(
                "engine='fluidsynth' needs the pyfluidsynth package with libfluidsynth and a .sf2 soundfont "
                f"(soundfont=... or ${SOUNDFONT_ENV}); found pyfluidsynth: {fluidsynth_available()}, soundfont: {sf2}"
            )
    notes = [
        (n.start, n.end, n.pitch, n.velocity)
        for instrument in midi.instruments
        if not instrument.is_drum
        for n in instrument.notes
    ]
    return additive_synth(notes, sample_rate)


def write_audio(path: str | os.PathLike[str], midi: Any, sample_rate: int = 22050, engine: str = "auto") -> Path:
    """:func:`synthesize` written to ``path`` as a 16-bit mono WAV; returns the path."""
    path = Path(path)
    write_wav(path, synthesize(midi, sample_rate, engine), sample_rate)
    return path
