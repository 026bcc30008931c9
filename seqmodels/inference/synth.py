"""A small additive synthesizer (numpy) and a WAV writer (the standard library's ``wave``): piano rolls
become sound offline, with nothing installed beyond numpy.

Each note is a sum of its first harmonics with amplitudes 1/h (a soft, sawtooth-like tone; harmonics at
or above the Nyquist frequency are left out), ``f = 440 · 2^((pitch - 69) / 12)`` Hz, scaled by
``velocity / 127``, shaped by a linear attack and, after the note's end, a linear release::

    s(t) = v/127 · env(t) · Σ_{h=1..H, h f < sr/2} sin(2π h f t) / h

The output holds ``ceil((end + release) · sample_rate)`` samples, ``end`` the last note's end in
seconds, and is scaled so that its peak is ``peak`` (0.9) when it would exceed it.
"""

from __future__ import annotations

import math
import os
import wave
from collections.abc import Iterable

import numpy as np

HARMONICS = 4


def key_frequency(pitch: float) -> float:
    """Equal temperament, A4 (MIDI 69) = 440 Hz."""
    return 440.0 * 2.0 ** ((pitch - 69.0) / 12.0)


def additive_synth(
    notes: Iterable[tuple[float, float, int, int]],
    sample_rate: int = 22050,
    attack: float = 0.01,
    release: float = 0.05,
    harmonics: int = HARMONICS,
    peak: float = 0.9,
) -> np.ndarray:
    """Render ``notes`` = ``[(start s, end s, pitch, velocity), ...]`` as float32 mono samples (see the module docstring)."""
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate < 1:
        raise ValueError(f"sample_rate must be a positive integer, got {sample_rate!r}")
    if attack < 0 or release < 0:
        raise ValueError(f"attack and release must be >= 0 seconds, got {attack!r} and {release!r}")
    notes = list(notes)
    end = max((n[1] for n in notes), default=0.0)
    out = np.zeros(int(math.ceil((end + release) * sample_rate)), dtype=np.float64)
    for start, stop, pitch, velocity in notes:
        first = int(round(start * sample_rate))
        held = max(int(round(stop * sample_rate)) - first, 1)
        tail = int(round(release * sample_rate))
        n = min(held + tail, len(out) - first)
        if n <= 0:
            continue
        t = np.arange(n) / sample_rate
        f = key_frequency(pitch)
        wave_ = np.zeros(n)
        for h in range(1, harmonics + 1):
            if h * f >= sample_rate / 2:
                break
            wave_ += np.sin(2 * np.pi * h * f * t) / h
        env = np.ones(n)
        if attack > 0:
            env = np.minimum(env, t / attack)
        if tail > 0:
            after = np.arange(n) - held  # samples since the note's end
            env = np.where(after >= 0, env * np.clip(1.0 - after / tail, 0.0, 1.0), env)
        else:
            env[held:] = 0.0
        out[first : first + n] += (velocity / 127.0) * env * wave_
    top = float(np.abs(out).max()) if len(out) else 0.0
    if top > peak:
        out *= peak / top
    return out.astype(np.float32)


def write_wav(path: str | os.PathLike[str], audio: np.ndarray, sample_rate: int) -> None:
    """Write mono float samples in [-1, 1] (clipped) as a 16-bit PCM WAV file."""
    samples = np.clip(np.asarray(audio, dtype=np.float64), -1.0, 1.0)
    if samples.ndim != 1:
        raise ValueError(f"audio must be mono (1-D), got shape {samples.shape}")
    pcm = np.round(samples * 32767).astype("<i2")
    with wave.open(os.fspath(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(int(sample_rate))
        f.writeframes(pcm.tobytes())
