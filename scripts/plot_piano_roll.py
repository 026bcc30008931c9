"""A MIDI file's piano roll as a PNG: keys (MIDI pitch) against eighth-note steps, the sounding notes dark.

    python scripts/plot_piano_roll.py sample.mid out.png [--title TEXT]

The roll is read with the project's own quantiser (``seqmodels.data.piano_roll.read_piano_roll``, eighth notes),
so the figure shows the frames a ``nottingham_*`` model reads and writes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from seqmodels.data.piano_roll import read_piano_roll


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("midi", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--title", default=None)
    args = parser.parse_args(argv)

    from matplotlib.figure import Figure

    roll = read_piano_roll(args.midi)
    sounding = roll.frames.nonzero()[1]
    low, high = (int(sounding.min()), int(sounding.max())) if sounding.size else (0, 87)
    fig = Figure(figsize=(9, 3.2), layout="constrained")
    ax = fig.subplots()
    ax.imshow(
        roll.frames[:, low : high + 1].T,  # (keys, steps)
        origin="lower",
        aspect="auto",
        cmap="Greys",
        interpolation="nearest",
        extent=(0, len(roll.frames), 21 + low - 0.5, 21 + high + 0.5),
    )
    ax.set_xlabel(f"step (1/{4 * roll.steps_per_quarter} note)")
    ax.set_ylabel("MIDI pitch")
    ax.set_title(args.title or args.midi.name)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"{args.out}: {len(roll.frames)} steps, {roll.notes} notes")


if __name__ == "__main__":
    main()
