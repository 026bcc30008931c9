"""End-to-end training speed: ``seqmodels-train`` as users run it, against the loops it replaces.

For an experiment (by default pytorch/examples' ``word_language_model`` setting on PTB:
``experiment=ptb_word_lstm_small data.bptt=35 model.dropout=0.2``: a 2×200 LSTM, batch 20, BPTT 35, SGD
lr 20, clip 0.25), each side is timed over ``batches`` training steps after ``warmup`` steps:

* **seqmodels-train**: the experiment composed and run by :func:`seqmodels.commands.train.train`, as
  the console command runs it: every default callback (checkpoints, early stopping, learning-rate
  monitor, rich progress bar, NaN guard), the TensorBoard logger, its data loader. Only validation and
  the test pass are off (``trainer.limit_val_batches=0 test=false``, early stopping then checks nothing); a callback added through
  ``train(cfg, extra_callbacks=…)`` reads the clock at the start of step ``warmup`` and of step
  ``warmup + batches``, so each timed step is a whole cycle of data loading, hooks, logging and the bar;
* **bare**, optional: the same command with ``callbacks=none logger=none
  trainer.enable_progress_bar=false`` (what callbacks and logging cost);
* **plain loop**: the network ``seqmodels-train`` builds (same initial weights), on the very batches the
  command's first run trained on, held in memory (the same padding and work; its data loading is not
  timed), with the experiment's optimizer and clipping, the language models' state carried across
  batches, the task's loss as torch computes it (``torch.nn.functional.cross_entropy``, where the
  command runs the fused :func:`seqmodels.kernels.cross_entropy.cross_entropy` on CPU) — and nothing else
  (no metrics, no logging);
* **peer** (PTB word-level experiments): pytorch/examples ``word_language_model``'s loop as published
  (:mod:`.peer_word_lm`): its own ``RNNModel`` with ``nn.LSTM``, its own batching of the PTB token
  stream, its manual SGD update;
* **loader**: the experiment's training data loader alone, batches per second (the steps' data loading
  is not the bottleneck while this is many times the step rate).

The sides alternate ``repeats`` times (the order rotating each round; each round starts the command
afresh and continues the loops); the figures are each side's median tokens/s (steps/s for the loader)
with its range, and the ratios of ``seqmodels-train`` to each side per round (median and range; higher
is faster). Tokens are target tokens for language models and input tokens (sequence lengths summed)
for the others.

    seqmodels-bench --only-e2e --data-dir ../shared/data
    python -m seqmodels.bench.training --data-dir ../shared/data --bare
    python -m seqmodels.bench.training --experiment imdb_bilstm --override ""
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra import compose, initialize_config_dir
from omegaconf import open_dict
from torch import nn

from ..commands.app import CONFIG_DIR, VERSION_BASE
from ..commands.instantiate import build_model_and_task, setup_data
from ..commands.train import train
from ..utils.allocator import keep_freed_memory
from ..utils.state import detach_state
from .peer_word_lm import PeerTrainer, read_corpus

EXPERIMENT = "ptb_word_lstm_small"
# pytorch/examples word_language_model's defaults where they differ from the experiment's
PEER_OVERRIDES = ("data.bptt=35", "model.dropout=0.2")
BARE_OVERRIDES = ("callbacks=none", "logger=none", "trainer.enable_progress_bar=false")
IGNORE_INDEX = -100  # the tagging task's padding label (cross_entropy's default ignore_index)


def batch_tokens(batch: Any) -> int:
    """Tokens in a training batch: targets of a language model's ``(inputs, targets)``, source and target
    lengths of a translation batch, the lengths of an ``(inputs, lengths, labels)`` batch."""
    if hasattr(batch, "target_lengths"):
        return int(batch.source_lengths.sum()) + int(batch.target_lengths.sum())
    if len(batch) == 2:
        return int(batch[1].numel())
    return int(batch[1].sum())


class StepClock(L.Callback):
    """Wall time from the start of step ``warmup`` to the start of step ``warmup + steps``, the tokens
    of the steps in between, and the batches of all ``warmup + steps`` steps as the training step received
    them (the plain loop trains on these: the same padding, the same work)."""

    def __init__(self, warmup: int, steps: int, synchronize: Callable[[], None] = lambda: None) -> None:
        self.warmup, self.steps, self.synchronize = warmup, steps, synchronize
        self.seen = 0
        self.tokens = 0
        self.batches: list = []
        self.start: float | None = None
        self.end: float | None = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self.seen in (self.warmup, self.warmup + self.steps):
            self.synchronize()
            if self.seen == self.warmup:
                self.start = time.perf_counter()
            else:
                self.end = time.perf_counter()
        if self.warmup <= self.seen < self.warmup + self.steps:
            self.tokens += batch_tokens(batch)
        if self.seen < self.warmup + self.steps:
            self.batches.append(batch)
        self.seen += 1

    def elapsed(self) -> float:
        if self.start is None or self.end is None:
            raise ValueError(
                f"no step was timed: the run made {self.seen} steps, the clock needs {self.warmup + self.steps + 1}"
            )
        return self.end - self.start


def compose_experiment(experiment: str, overrides: Sequence[str], data_dir: Path, output_dir: Path) -> Any:
    """The training config, as ``seqmodels-train experiment=… <overrides>`` composes it."""
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base=VERSION_BASE):
        return compose(
            "train",
            overrides=[
                f"experiment={experiment}",
                *overrides,
                f"paths.data_dir={data_dir}",
                f"paths.output_dir={output_dir}",
            ],
        )


def train_only(cfg: Any, max_steps: int) -> None:
    """Set a composed training config to ``max_steps`` steps with validation and the test pass off."""
    cfg.trainer.max_steps = max_steps
    cfg.trainer.limit_val_batches = 0
    cfg.test = False
    stopping = (cfg.get("callbacks") or {}).get("early_stopping")
    if stopping is not None:  # without validation it would look for val/loss at the epoch's end, and fail
        with open_dict(stopping):
            stopping.check_on_train_epoch_end = False


def command_seconds(cfg: Any, warmup: int, steps: int, synchronize: Callable[[], None]) -> tuple[float, int, list]:
    """Run ``train(cfg)`` for ``warmup + steps + 1`` steps; the seconds and tokens of the timed steps, and
    the batches of the first ``warmup + steps`` steps."""
    clock = StepClock(warmup, steps, synchronize)
    train_only(cfg, warmup + steps + 1)
    train(cfg, extra_callbacks=[clock])
    return clock.elapsed(), clock.tokens, clock.batches


def plain_loss(task: Any, batch: Any, state: Any) -> tuple[torch.Tensor, Any]:
    """The loss the task's ``training_step`` computes on ``batch``, and the state to carry (language
    models): the network's forward and the loss, without metrics or logging."""
    if hasattr(batch, "target_lengths"):  # translation: teacher forcing
        logits = task.model(
            batch.source, batch.source_lengths, batch.target[:, :-1], batch.target_lengths - 1, task.sampling_rate
        )[0]
        targets = batch.target[:, 1:].reshape(-1)
        return nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]),
            targets,
            ignore_index=task.encoder.pad_index,
            label_smoothing=task.label_smoothing,
        ), None
    if len(batch) == 2:  # language model
        inputs, targets = batch
        logits, state = task.model(inputs, None if state is None else detach_state(state))
        loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
        return loss, state if getattr(task, "carry_state", False) else None
    inputs, lengths, labels = batch
    logits = task.model(inputs, lengths)[0]
    if logits.dim() == 3:  # tagging: one label per token, padding ignored
        logits, labels = logits.reshape(-1, logits.shape[-1]), labels.reshape(-1)
    return nn.functional.cross_entropy(logits, labels, ignore_index=IGNORE_INDEX), None


class PlainLoop:
    """The task's training as a hand-written loop: forward, the loss (:func:`plain_loss`), ``zero_grad``,
    backward, the task's clipping (``task.clip_grad_norm``), the optimizer's step; nothing else.

    ``optimizer`` is the experiment's (``task.optimizer_factory``). A language model's state is carried
    from batch to batch, across calls as well."""

    def __init__(
        self, task: Any, optimizer: torch.optim.Optimizer, synchronize: Callable[[], None] = lambda: None
    ) -> None:
        self.task, self.optimizer, self.synchronize = task, optimizer, synchronize
        self.state: Any = None

    def seconds(self, batches: Sequence) -> float:
        """Train on ``batches``; the wall time of all of them (the device synchronised at both ends)."""
        self.task.model.train()
        self.synchronize()
        start = time.perf_counter()
        for batch in batches:
            self.step(batch)
        self.synchronize()
        return time.perf_counter() - start

    def step(self, batch: Any) -> None:
        """One training step on ``batch`` (the model already in training mode)."""
        loss, self.state = plain_loss(self.task, batch, self.state)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.task.clip_grad_norm is not None:
            nn.utils.clip_grad_norm_(self.task.model.parameters(), self.task.clip_grad_norm)
        self.optimizer.step()

    def tokens(self, batches: Sequence) -> int:
        """The tokens of ``batches`` (:func:`batch_tokens`): what :meth:`seconds` trained on."""
        return sum(batch_tokens(b) for b in batches)


def plain_loop(
    task: Any,
    optimizer: torch.optim.Optimizer,
    batches: list,
    warmup: int,
    synchronize: Callable[[], None] = lambda: None,
) -> float:
    """:class:`PlainLoop` on ``batches`` from a fresh state; the seconds of the batches after ``warmup``."""
    if not 0 <= warmup < len(batches):
        raise ValueError(f"no batch was timed: warmup={warmup} of {len(batches)} batches")
    loop = PlainLoop(task, optimizer, synchronize)
    loop.seconds(batches[:warmup])
    return loop.seconds(batches[warmup:])


def loader_seconds(datamodule: Any, warmup: int, steps: int) -> float:
    """Seconds to draw ``steps`` batches from a fresh training loader after ``warmup`` of them."""
    start = None
    drawn = 0
    for drawn, _ in enumerate(datamodule.train_dataloader()):
        if drawn == warmup:
            start = time.perf_counter()
        if drawn == warmup + steps:
            break
    if start is None or drawn < warmup + steps:
        raise ValueError(f"the training loader has {drawn + 1} batches, fewer than warmup + steps + 1")
    return time.perf_counter() - start


def to_device(batch: Any, device: str) -> Any:
    """``batch`` (a tensor, a tuple, list or NamedTuple of them) with its tensors on ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if hasattr(batch, "_fields"):  # a NamedTuple batch
        return type(batch)(*(to_device(x, device) for x in batch))
    if isinstance(batch, (tuple, list)):
        return type(batch)(to_device(x, device) for x in batch)
    return batch


def _spread(values: Sequence[float]) -> list[float]:
    return [round(min(values), 4), round(max(values), 4)]


def run(
    data_dir: Path,
    experiment: str = EXPERIMENT,
    overrides: Sequence[str] = PEER_OVERRIDES,
    batches: int = 200,
    warmup: int = 20,
    repeats: int = 3,
    bare: bool = False,
    peer: bool | None = None,
    device: str = "cpu",
    keep_freed: bool = True,
) -> dict:
    """Tokens/s of each side over ``batches`` timed steps, ``repeats`` rounds; returns the figures.

    ``peer`` (default: for the ``ptb_word_*`` experiments) adds pytorch/examples' loop on PTB.
    ``keep_freed``: the command's ``keep_freed_memory`` (on by default). It is process-wide, so with it every
    side runs with freed memory kept (:func:`seqmodels.utils.allocator.keep_freed_memory`, set here before
    any side runs); without it (``keep_freed_memory=false``) every side runs on glibc's defaults, which
    holds only in a process where nothing has set it yet.
    """
    if batches < 1 or warmup < 0 or repeats < 1:
        raise ValueError(f"batches >= 1, warmup >= 0, repeats >= 1 are needed; got {batches}, {warmup}, {repeats}")
    peer = experiment.startswith("ptb_word") if peer is None else peer
    overrides = [*overrides, f"trainer.accelerator={'gpu' if device == 'cuda' else 'cpu'}"]
    if keep_freed:
        keep_freed_memory()
    else:
        overrides.append("keep_freed_memory=false")
    synchronize = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = compose_experiment(experiment, overrides, data_dir, Path(tmp) / "setup")
        datamodule = setup_data(cfg, "fit")
        if cfg.get("seed") is not None:
            torch.manual_seed(int(cfg.seed))
        _, task = build_model_and_task(cfg, datamodule)
        plain_task: Any = copy.deepcopy(task).to(device)
        plain_optimizer = plain_task.optimizer_factory(plain_task.model.parameters())
        # the plain loop's batches: those the command's first run trained on (it runs first)
        command_batches: list = []
        peer_trainer = None
        if peer:
            bptt, batch_size = int(cfg.data.bptt), int(cfg.data.batch_size)
            peer_trainer = PeerTrainer(
                read_corpus(_ptb_train_file(data_dir)),
                emsize=int(cfg.model.embedding_dim),
                nhid=int(cfg.model.hidden_size),
                nlayers=int(cfg.model.num_layers),
                dropout=float(cfg.model.dropout),
                batch_size=batch_size,
                bptt=bptt,
                lr=float(cfg.task.optimizer.lr),
                clip=float(cfg.task.clip_grad_norm),
                device=device,
            )

        sides = ["seqmodels-train", *(["bare"] if bare else []), "plain loop", *(["peer"] if peer else []), "loader"]
        rates: dict[str, list[float]] = {side: [] for side in sides}
        steps_per_s: list[float] = []
        for round_ in range(repeats):
            for side in sides[round_ % len(sides) :] + sides[: round_ % len(sides)]:
                if side in ("seqmodels-train", "bare"):
                    extra = BARE_OVERRIDES if side == "bare" else ()
                    run_cfg = compose_experiment(
                        experiment, [*overrides, *extra], data_dir, Path(tmp) / f"{side}-{round_}"
                    )
                    seconds, tokens, seen = command_seconds(run_cfg, warmup, batches, synchronize)
                    if side == "seqmodels-train":
                        steps_per_s.append(batches / seconds)
                    command_batches = command_batches or [to_device(b, device) for b in seen]
                elif side == "plain loop":
                    seconds = plain_loop(plain_task, plain_optimizer, command_batches, warmup, synchronize)
                    tokens = sum(batch_tokens(b) for b in command_batches[warmup:])
                elif side == "peer":
                    assert peer_trainer is not None
                    seconds = peer_trainer.run(batches, warmup, synchronize)
                    tokens = batches * peer_trainer.bptt * peer_trainer.batch_size
                else:
                    seconds, tokens = loader_seconds(datamodule, warmup, batches), batches  # batches/s
                rates[side].append(tokens / seconds)
    result: dict[str, Any] = {
        "experiment": experiment,
        "overrides": list(overrides),
        "device": device,
        "threads": torch.get_num_threads(),
        "keep_freed_memory": keep_freed,
        "timed_batches": batches,
        "warmup": warmup,
        "repeats": repeats,
        "tokens_per_s": {side: statistics.median(v) for side, v in rates.items() if side != "loader"},
        "tokens_per_s_range": {side: _spread(v) for side, v in rates.items() if side != "loader"},
        "rounds": rates,
        "ratios": {},
    }
    ours = rates["seqmodels-train"]
    for side in sides[1:-1]:
        ratios = [a / b for a, b in zip(ours, rates[side])]
        result["ratios"][side] = {"median": statistics.median(ratios), "range": _spread(ratios)}
    loader_ratios = [a / b for a, b in zip(rates["loader"], steps_per_s)]
    result["loader"] = {
        "batches_per_s": statistics.median(rates["loader"]),
        "range": _spread(rates["loader"]),
        "times_step_rate": {"median": statistics.median(loader_ratios), "range": _spread(loader_ratios)},
    }
    return result


def _ptb_train_file(data_dir: Path) -> Path:
    for name in ("ptb.train.txt", "ptb.train.txt.gz"):
        if (data_dir / "ptb" / name).is_file():
            return data_dir / "ptb" / name
    raise FileNotFoundError(f"no ptb/ptb.train.txt[.gz] under {data_dir} (the peer trains on PTB)")


def format_result(r: dict) -> str:
    """The figures as a table: tokens/s per side (median, range) and seqmodels-train's ratio to each."""
    lines = [
        f"end-to-end training, {r['experiment']} {' '.join(r['overrides'])}: {r['timed_batches']} timed steps "
        f"after {r['warmup']}, {r['repeats']} rounds, {r['threads']} threads, "
        f"freed memory {'kept' if r['keep_freed_memory'] else 'returned (glibc defaults)'}",
        f"{'side':<16} {'tokens/s':>10} {'range':>17}  {'seqmodels-train / side':>24}",
    ]
    for side, median in r["tokens_per_s"].items():
        low, high = r["tokens_per_s_range"][side]
        ratio = r["ratios"].get(side)
        shown = f"{ratio['median']:.3f} ({ratio['range'][0]:.3f}-{ratio['range'][1]:.3f})" if ratio else ""
        lines.append(f"{side:<16} {median:>10.0f} {f'{low:.0f}-{high:.0f}':>17}  {shown:>24}")
    loader = r["loader"]
    times = loader["times_step_rate"]
    lines.append(
        f"loader alone: {loader['batches_per_s']:.0f} batches/s ({loader['range'][0]:.0f}-{loader['range'][1]:.0f}), "
        f"{times['median']:.1f}x seqmodels-train's steps/s ({times['range'][0]:.1f}-{times['range'][1]:.1f})"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m seqmodels.bench.training", description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default=None, help="the data sets (default: $SEQMODELS_DATA_DIR, else ./data)")
    p.add_argument("--experiment", nargs="+", default=[EXPERIMENT], help=f"one or more (default {EXPERIMENT})")
    p.add_argument(
        "--override",
        action="append",
        default=None,
        metavar="KEY=VALUE",
        help=f"overrides of the experiment (default: {' '.join(PEER_OVERRIDES)}; --override '' for none)",
    )
    p.add_argument("--batches", type=int, default=200, help="timed steps per side and round (default 200)")
    p.add_argument("--warmup", type=int, default=20, help="untimed steps before them (default 20)")
    p.add_argument("--repeats", type=int, default=3, help="rounds (default 3)")
    p.add_argument("--bare", action="store_true", help="also time the command with callbacks=none logger=none")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument(
        "--allocator",
        default="kept",
        choices=["kept", "default"],
        help="kept (the command's default, keep_freed_memory=true: every side keeps freed memory) or default "
        "(keep_freed_memory=false: every side on glibc's own thresholds)",
    )
    p.add_argument("--json", metavar="PATH", help="also write the figures as JSON to PATH")
    args = p.parse_args(argv)
    data_dir = Path(args.data_dir or os.environ.get("SEQMODELS_DATA_DIR", "data")).resolve()
    overrides = PEER_OVERRIDES if args.override is None else [o for o in args.override if o]
    results = []
    for experiment in args.experiment:
        r = run(
            data_dir,
            experiment,
            overrides,
            args.batches,
            args.warmup,
            args.repeats,
            args.bare,
            None,
            args.device,
            keep_freed=args.allocator == "kept",
        )
        print(format_result(r), flush=True)
        results.append(r)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
