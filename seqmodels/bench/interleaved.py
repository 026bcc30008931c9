"""``seqmodels-train`` against its plain loop, interleaved step segment by step segment in one process.

:mod:`.training` times each side for a whole round of seconds; on a shared machine the rounds swing by
±10–30 % from one to the next, more than the few per cent this comparison is about. Here the two sides
take turns within one run of the command: after ``warmup`` steps, a callback of the command stops its clock
every ``segment`` steps and hands the batches of those steps to the plain loop (:class:`.training.PlainLoop`,
the same network built from the same config, with the experiment's optimizer and clipping), which trains on
them at once under its own clock; then the command goes on. Each segment gives one ratio,

    r_i = (plain loop's seconds on segment i) / (the command's seconds on segment i)

(both sides did the same work: the same batches, the same padding), so ``r > 1`` means the command is
faster. A drift of the machine's speed lasting longer than two segments reaches both sides of a pair alike.
The command side is ``seqmodels-train`` as users run it (every default callback, the logger, the progress
bar, its data loader; validation and the test pass off, as in :mod:`.training`); the plain side's data are
already in memory, so the ratio charges the command with its data loading.

With ``--plain-loader`` the plain loop is instead the script a user would write around the same data: each
segment it draws as many batches as the command trained on from its own training ``DataLoader`` (the
experiment's, built apart from the command's: same dataset, sampler and collate, its own order), under its
clock. The two sides then train on different batches of the same kind, so each segment's ratio compares
time per token,

    r_i = (plain seconds_i / plain tokens_i) / (command seconds_i / command tokens_i),

which is the ratio above when both sides have the same tokens.

    python -m seqmodels.bench.interleaved --data-dir ../shared/data --experiment default conll2000_chunk_bilstm
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch

from ..commands.instantiate import build_model_and_task, setup_data
from ..commands.train import train
from ..utils.allocator import keep_freed_memory
from .training import PlainLoop, batch_tokens, compose_experiment, to_device, train_only


class LoaderPlainLoop:
    """A :class:`.training.PlainLoop` that draws its own batches from ``loader`` (restarted at the end of each
    pass), the drawing timed with the training. :meth:`seconds` trains on as many batches as it is handed
    (their contents unused); :meth:`tokens` is what the last call trained on."""

    def __init__(self, plain: PlainLoop, loader: Iterable, device: str = "cpu") -> None:
        self.plain, self.loader, self.device = plain, loader, device
        self._batches: Iterator = iter(loader)
        self._tokens = 0

    def _next(self) -> Any:
        try:
            return next(self._batches)
        except StopIteration:
            self._batches = iter(self.loader)
            return next(self._batches)

    def seconds(self, batches: Sequence) -> float:
        drawn: list = []
        self.plain.task.model.train()
        self.plain.synchronize()
        start = time.perf_counter()
        for _ in batches:
            batch = to_device(self._next(), self.device)
            self.plain.step(batch)
            drawn.append(batch)
        self.plain.synchronize()
        elapsed = time.perf_counter() - start
        self._tokens = sum(batch_tokens(b) for b in drawn)  # counted after the clock stopped
        return elapsed

    def tokens(self, batches: Sequence) -> int:
        return self._tokens


class SegmentClock(L.Callback):
    """Times the command's steps in segments of ``segment`` steps after ``warmup`` steps, and after each
    segment runs ``plain`` on that segment's batches (after the warmup, on the warmup's batches, untimed).

    ``command``, ``plain_seconds``, ``tokens`` (the command's) and ``plain_tokens`` get one entry per segment, up
    to ``segments`` of them. ``plain`` has ``seconds(batches)`` and ``tokens(batches)``, the tokens it trained on
    in its last call."""

    def __init__(
        self,
        plain: PlainLoop | LoaderPlainLoop,
        warmup: int,
        segment: int,
        segments: int,
        synchronize: Callable[[], None] = lambda: None,
    ) -> None:
        self.plain, self.warmup, self.segment, self.segments = plain, warmup, segment, segments
        self.synchronize = synchronize
        self.seen = 0
        self.pending: list = []
        self.start = 0.0
        self.command: list[float] = []
        self.plain_seconds: list[float] = []
        self.tokens: list[int] = []
        self.plain_tokens: list[int] = []

    @property
    def steps_needed(self) -> int:
        """Steps the command has to start for every segment to be timed."""
        return self.warmup + self.segment * self.segments + 1

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        done = len(self.command) == self.segments
        at_boundary = self.seen >= self.warmup and (self.seen - self.warmup) % self.segment == 0
        if at_boundary and not done:
            self.synchronize()
            stopped = time.perf_counter()
            if self.seen > self.warmup:
                self.command.append(stopped - self.start)
                self.tokens.append(sum(batch_tokens(b) for b in self.pending))
                self.plain_seconds.append(self.plain.seconds(self.pending))
                self.plain_tokens.append(self.plain.tokens(self.pending))
            else:
                self.plain.seconds(self.pending)  # the plain loop's warmup
            self.pending = []
            self.synchronize()
            self.start = time.perf_counter()
        if len(self.command) < self.segments:
            self.pending.append(batch)
        self.seen += 1


def _quartiles(values: Sequence[float]) -> list[float]:
    if len(values) < 2:
        return [values[0], values[0]]
    q = statistics.quantiles(values, n=4, method="inclusive")
    return [round(q[0], 4), round(q[2], 4)]


def run(
    data_dir: Path,
    experiment: str,
    overrides: Sequence[str] = (),
    segment: int = 20,
    segments: int = 20,
    warmup: int = 20,
    repeats: int = 1,
    device: str = "cpu",
    plain_loader: bool = False,
) -> dict:
    """``repeats`` runs of the command, each timing ``segments`` segments of ``segment`` steps against the
    plain loop (which carries its weights and optimizer from run to run); returns the figures.

    ``plain_loader``: the plain loop draws its own batches from the experiment's training loader
    (:class:`LoaderPlainLoop`) instead of training on the command's, held in memory."""
    if segment < 1 or segments < 1 or warmup < 0 or repeats < 1:
        raise ValueError(
            "segment >= 1, segments >= 1, warmup >= 0, repeats >= 1 are needed; "
            f"got {segment}, {segments}, {warmup}, {repeats}"
        )
    overrides = [*overrides, f"trainer.accelerator={'gpu' if device == 'cuda' else 'cpu'}"]
    keep_freed_memory()  # the command's default; process-wide, so both sides run with it
    synchronize = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    command: list[float] = []
    plain_seconds: list[float] = []
    tokens: list[int] = []
    plain_tokens: list[int] = []
    with tempfile.TemporaryDirectory() as tmp:
        cfg = compose_experiment(experiment, overrides, data_dir, Path(tmp) / "setup")
        datamodule = setup_data(cfg, "fit")
        if cfg.get("seed") is not None:
            torch.manual_seed(int(cfg.seed))
        _, task = build_model_and_task(cfg, datamodule)
        plain_task: Any = copy.deepcopy(task).to(device)
        in_memory = PlainLoop(plain_task, plain_task.optimizer_factory(plain_task.model.parameters()), synchronize)
        plain = LoaderPlainLoop(in_memory, datamodule.train_dataloader(), device) if plain_loader else in_memory
        for repeat in range(repeats):
            clock = SegmentClock(plain, warmup, segment, segments, synchronize)
            run_cfg = compose_experiment(experiment, overrides, data_dir, Path(tmp) / f"run-{repeat}")
            train_only(run_cfg, clock.steps_needed)
            train(run_cfg, extra_callbacks=[clock])
            if len(clock.command) < segments:
                raise ValueError(
                    f"the run made {clock.seen} steps, {clock.steps_needed} are needed for {segments} segments "
                    f"of {segment} (a smaller --segment or --segments, or a longer epoch)"
                )
            command += clock.command
            plain_seconds += clock.plain_seconds
            tokens += clock.tokens
            plain_tokens += clock.plain_tokens
    # time per token, plain over command (with the same tokens on both sides: plain seconds / command seconds)
    ratios = [(p / pt) / (c / ct) for p, pt, c, ct in zip(plain_seconds, plain_tokens, command, tokens)]
    return {
        "experiment": experiment,
        "overrides": list(overrides),
        "device": device,
        "threads": torch.get_num_threads(),
        "segment": segment,
        "segments": len(ratios),
        "warmup": warmup,
        "repeats": repeats,
        "plain_batches": "drawn from its own loader" if plain_loader else "the command's, in memory",
        "tokens_per_s": {
            "seqmodels-train": sum(tokens) / sum(command),
            "plain loop": sum(plain_tokens) / sum(plain_seconds),
        },
        "segment_seconds": {"seqmodels-train": command, "plain loop": plain_seconds},
        "segment_tokens": tokens,
        "plain_segment_tokens": plain_tokens,
        "ratio": {
            "median": statistics.median(ratios),
            "quartiles": _quartiles(ratios),
            "range": [round(min(ratios), 4), round(max(ratios), 4)],
            "of_totals": (sum(plain_seconds) / sum(plain_tokens)) / (sum(command) / sum(tokens)),
        },
    }


def format_result(r: dict) -> str:
    """Tokens/s of each side over all segments, and the command's ratio to the plain loop per segment."""
    ratio = r["ratio"]
    speed = r["tokens_per_s"]
    return "\n".join(
        [
            f"interleaved, {r['experiment']} {' '.join(r['overrides'])}: {r['segments']} segments of "
            f"{r['segment']} steps after {r['warmup']} ({r['repeats']} runs), {r['threads']} threads; the plain "
            f"loop's batches: {r['plain_batches']}",
            f"  seqmodels-train {speed['seqmodels-train']:.0f} tokens/s, plain loop {speed['plain loop']:.0f} tokens/s",
            f"  seqmodels-train / plain loop per segment: median {ratio['median']:.3f}, quartiles "
            f"{ratio['quartiles'][0]:.3f}-{ratio['quartiles'][1]:.3f}, range {ratio['range'][0]:.3f}-"
            f"{ratio['range'][1]:.3f}; of the totals {ratio['of_totals']:.3f}",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m seqmodels.bench.interleaved", description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default=None, help="the data sets (default: $SEQMODELS_DATA_DIR, else ./data)")
    p.add_argument("--experiment", nargs="+", default=["default"], help="one or more (default: default)")
    p.add_argument("--override", action="append", default=[], metavar="KEY=VALUE", help="overrides of the experiment")
    p.add_argument("--segment", type=int, default=20, help="steps per segment (default 20)")
    p.add_argument("--segments", type=int, default=20, help="timed segments per run (default 20)")
    p.add_argument("--warmup", type=int, default=20, help="untimed steps first (default 20)")
    p.add_argument("--repeats", type=int, default=1, help="runs of the command (default 1)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument(
        "--plain-loader",
        action="store_true",
        help="the plain loop draws its own batches from the experiment's training loader, timed with its steps "
        "(default: it trains on the command's batches, held in memory)",
    )
    p.add_argument("--json", metavar="PATH", help="also write the figures as JSON to PATH")
    args = p.parse_args(argv)
    data_dir = Path(args.data_dir or os.environ.get("SEQMODELS_DATA_DIR", "data")).resolve()
    results = []
    for experiment in args.experiment:
        r = run(
            data_dir,
            experiment,
            args.override,
            args.segment,
            args.segments,
            args.warmup,
            args.repeats,
            args.device,
            args.plain_loader,
        )
        print(format_result(r), flush=True)
        results.append(r)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
