"""MIDI corpora as piano rolls: a folder of a user's ``.mid`` files (:class:`MidiFiles`) and the Nottingham
folk tunes (:class:`Nottingham`), split into train/valid/test by file with a seed.

``rolls(split)`` gives the split's :class:`~seqmodels.data.piano_roll.PianoRoll` objects (bool (T, 88)
frames on the ``steps_per_quarter`` grid, read by :func:`~seqmodels.data.piano_roll.read_piano_roll`),
in file-name order; ``files(split)`` the paths. The split: the files, sorted by their path relative to
the folder, are permuted by ``numpy.random.default_rng(seed)``; the first ``round(N * test_fraction)``
are the test split, the next ``round(N * valid_fraction)`` the validation split, the rest training.
``max_files`` keeps only the first that many of the permutation (a quick run on a random subset).
Files are read on first use and kept; a bad file raises :class:`~seqmodels.data.piano_roll.MidiFileError`
naming it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..piano_roll import PianoRoll, read_piano_roll
from .base import check_split, require_dir

log = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")


def _fraction(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
    return float(value)


def split_files(
    files: Sequence[Path], valid_fraction: float, test_fraction: float, seed: int, max_files: int | None = None
) -> dict[str, list[Path]]:
    """The seeded split by file of the module docstring: ``{"train": [...], "valid": [...], "test": [...]}``,
    each sorted. Files are given in the order that defines the permutation (sorted by the caller)."""
    order = np.random.default_rng(seed).permutation(len(files))
    if max_files is not None:
        if isinstance(max_files, bool) or not isinstance(max_files, int) or max_files < 1:
            raise ValueError(f"max_files must be a positive integer or None, got {max_files!r}")
        order = order[:max_files]
    n = len(order)
    n_test = int(round(n * _fraction("test_fraction", test_fraction)))
    n_valid = int(round(n * _fraction("valid_fraction", valid_fraction)))
    if n - n_test - n_valid < 1:
        raise ValueError(
            f"{n} file(s) leave none for training with valid_fraction={valid_fraction} and test_fraction={test_fraction}"
        )
    parts = {"test": order[:n_test], "valid": order[n_test : n_test + n_valid], "train": order[n_test + n_valid :]}
    return {split: sorted((files[i] for i in idx), key=str) for split, idx in parts.items()}


class MidiFiles:
    """The ``.mid``/``.midi`` files of a folder as piano rolls, split by file (see the module docstring).

    Args:
        path: the folder.
        pattern: glob(s) relative to ``path`` (``"**/*.mid"`` to include sub-folders).
        steps_per_quarter: the grid, steps per quarter note (2: eighth notes).
        valid_fraction: share of the files held out for validation.
        test_fraction: share held out for testing.
        seed: seeds the split.
        max_files: use only this many files (a seeded random subset), or all.
    """

    name = "midi"
    splits: tuple[str, ...] = SPLITS
    HOW = "Pass the folder holding your .mid files as path=..."

    def __init__(
        self,
        path: str | os.PathLike[str] | None,
        pattern: str | Sequence[str] = ("*.mid", "*.midi"),
        steps_per_quarter: int = 2,
        valid_fraction: float = 0.1,
        test_fraction: float = 0.1,
        seed: int = 0,
        max_files: int | None = None,
    ) -> None:
        self.root = require_dir(path, self.name, self.HOW)
        if not self.root.is_dir():
            raise ValueError(f"{self.name}: path {self.root} is not a folder. {self.HOW}")
        if isinstance(steps_per_quarter, bool) or not isinstance(steps_per_quarter, int) or steps_per_quarter < 1:
            raise ValueError(f"steps_per_quarter must be a positive integer, got {steps_per_quarter!r}")
        self.steps_per_quarter = steps_per_quarter
        patterns = [pattern] if isinstance(pattern, str) else list(pattern)
        found = {p for glob in patterns for p in self.root.glob(glob) if p.is_file()}
        files = sorted(found, key=lambda p: str(p.relative_to(self.root)))
        if not files:
            raise FileNotFoundError(f"{self.name}: no file matching {patterns} in {self.root}. {self.HOW}")
        self._files = split_files(files, valid_fraction, test_fraction, seed, max_files)
        self._rolls: dict[str, list[PianoRoll]] = {}

    def files(self, split: str) -> list[Path]:
        """The split's files, sorted."""
        return list(self._files[check_split(split, self.splits, self.name)])

    def rolls(self, split: str) -> list[PianoRoll]:
        """The split's piano rolls, in the order of :meth:`files` (read on first use)."""
        if split not in self._rolls:
            rolls = [read_piano_roll(p, self.steps_per_quarter) for p in self.files(split)]
            self._rolls[split] = rolls
            log.info(
                "%s %s: %d files, %d frames, %d notes; dropped %d outside A0-C8 and %d drum notes; %d onsets off the grid",
                self.name,
                split,
                len(rolls),
                sum(len(r) for r in rolls),
                sum(r.notes for r in rolls),
                sum(r.out_of_range for r in rolls),
                sum(r.drum_notes for r in rolls),
                sum(r.off_grid for r in rolls),
            )
        return self._rolls[split]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(root={str(self.root)!r}, steps_per_quarter={self.steps_per_quarter})"


class Nottingham(MidiFiles):
    """The Nottingham folk tunes (1,034), as cleaned and converted to MIDI by Jukedeck (jukedeck/nottingham-dataset).

    Args:
        path: the data set's folder (holding ``MIDI/``), or its ``MIDI/`` folder itself.
        variant: ``full`` (melody and chords, ``MIDI/*.mid``), ``melody`` (``MIDI/melody/``) or
            ``chords`` (``MIDI/chords/``, 1,021 tunes).
        steps_per_quarter, valid_fraction, test_fraction, seed, max_files: as :class:`MidiFiles`.

    There is no official split of these files; Boulanger-Lewandowski et al. (2012) used their own
    preprocessing of the same tunes, so figures on this split are not theirs.
    """

    name = "nottingham"
    VARIANTS = {"full": ".", "melody": "melody", "chords": "chords"}
    HOW = (
        "Get the MIDI folder of https://github.com/jukedeck/nottingham-dataset and pass its parent "
        "(or the folder itself) as path=..."
    )

    def __init__(
        self,
        path: str | os.PathLike[str] | None,
        variant: str = "full",
        steps_per_quarter: int = 2,
        valid_fraction: float = 0.1,
        test_fraction: float = 0.1,
        seed: int = 0,
        max_files: int | None = None,
    ) -> None:
        if variant not in self.VARIANTS:
            raise ValueError(f"variant must be one of {list(self.VARIANTS)}, got {variant!r}")
        root = require_dir(path, self.name, self.HOW)
        midi = root / "MIDI" if (root / "MIDI").is_dir() else root
        self.variant = variant
        super().__init__(
            midi / self.VARIANTS[variant],
            "*.mid",
            steps_per_quarter,
            valid_fraction,
            test_fraction,
            seed,
            max_files,
        )
