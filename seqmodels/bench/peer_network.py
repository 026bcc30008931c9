"""The PTB word model's training step alone: ours against pytorch/examples' ``RNNModel``, no trainer on either side.

One step is what both training loops do per batch: forward, the loss, backward, clipping to 0.25 and the SGD
update at lr 20, on a (B 20, T 35) batch of a 10,000-word vocabulary with 2 × 200 LSTM layers and dropout 0.2
(``experiment=ptb_word_lstm_small data.bptt=35 model.dropout=0.2``). Ours is :class:`RNNLanguageModel` with
each backend asked for (``auto`` picks torch's oneDNN LSTM at this shape) and the language-model task's loss
(the fused :func:`~seqmodels.kernels.cross_entropy.cross_entropy`), the peer is
:class:`~seqmodels.bench.peer_word_lm.RNNModel` (``nn.LSTM``, sequence-first, ``log_softmax`` + ``nll_loss``).
Both run with freed memory kept, as ``seqmodels-train`` runs (``--allocator default``: both on glibc's own
thresholds; :mod:`seqmodels.utils.allocator`).
The sides alternate step by step; each prints its median and interquartile range. ``--profile`` adds
``torch.profiler``'s per-op self times per step for ``auto`` and the peer (where a step's milliseconds go).

    python -m seqmodels.bench.peer_network --steps 40
    python -m seqmodels.bench.peer_network --profile

What it leaves out: data loading, state carried between batches, logging — the end-to-end benchmark
(:mod:`seqmodels.bench.training`) times those.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from ..cells import LSTMCell
from ..kernels.cross_entropy import cross_entropy
from ..models import RNNLanguageModel
from ..utils.allocator import keep_freed_memory
from .peer_word_lm import RNNModel

VOCAB, BATCH, BPTT, SIZE, LAYERS, DROPOUT, LR, CLIP = 10_000, 20, 35, 200, 2, 0.2, 20.0, 0.25


def sgd_update(model: nn.Module) -> None:
    nn.utils.clip_grad_norm_(model.parameters(), CLIP)
    with torch.no_grad():
        for p in model.parameters():
            if p.grad is not None:
                p.add_(p.grad, alpha=-LR)


def our_step(model: RNNLanguageModel, inputs: torch.Tensor, targets: torch.Tensor) -> Callable[[], None]:
    def step() -> None:
        logits, _ = model(inputs)  # (B, T, V)
        loss = cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))  # the task's loss
        model.zero_grad(set_to_none=True)
        loss.backward()
        sgd_update(model)

    return step


def peer_step(model: RNNModel, inputs: torch.Tensor, targets: torch.Tensor) -> Callable[[], None]:
    batch_size = inputs.shape[0]
    inputs, targets = inputs.t().contiguous(), targets.t().reshape(-1)  # its (T, B) layout

    def step() -> None:
        output, _ = model(inputs, model.init_hidden(batch_size))
        loss = nn.functional.nll_loss(output, targets)
        model.zero_grad()
        loss.backward()
        sgd_update(model)

    return step


def steps(backends: list[str]) -> dict[str, Callable[[], None]]:
    torch.manual_seed(0)
    inputs = torch.randint(0, VOCAB, (BATCH, BPTT))
    targets = torch.randint(0, VOCAB, (BATCH, BPTT))
    sides = {}
    for backend in backends:
        model = RNNLanguageModel(VOCAB, LSTMCell, SIZE, SIZE, LAYERS, dropout=DROPOUT, backend=backend).train()
        sides[f"ours ({backend})"] = our_step(model, inputs, targets)
    sides["peer RNNModel"] = peer_step(RNNModel(VOCAB, SIZE, SIZE, LAYERS, DROPOUT).train(), inputs, targets)
    return sides


def time_sides(sides: dict[str, Callable[[], None]], repeats: int, warmup: int) -> dict[str, list[float]]:
    """Seconds per step of each side, the sides interleaved step by step."""
    for step in sides.values():
        for _ in range(warmup):
            step()
    seconds: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(repeats):
        for name, step in sides.items():
            start = time.perf_counter()
            step()
            seconds[name].append(time.perf_counter() - start)
    return seconds


def profile_table(step: Callable[[], None], repeats: int = 10, rows: int = 12) -> str:
    """``torch.profiler``'s ops by self CPU time, in ms per step."""
    from torch.profiler import ProfilerActivity, profile

    for _ in range(3):
        step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(repeats):
            step()
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)[:rows]
    lines = [
        f"  {e.key:<40} {e.self_cpu_time_total / 1e3 / repeats:8.2f} ms  ({e.count // repeats} calls)" for e in events
    ]
    total = sum(e.self_cpu_time_total for e in prof.key_averages()) / 1e3 / repeats
    return "\n".join([*lines, f"  {'all ops':<40} {total:8.2f} ms"])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m seqmodels.bench.peer_network", description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=30, help="timed steps per side (default 30)")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps per side first (default 5)")
    p.add_argument("--backends", nargs="+", default=["auto", "custom"], help="ours, each backend (auto custom torch)")
    p.add_argument("--profile", action="store_true", help="also print the per-op profile of ours (auto) and the peer")
    p.add_argument(
        "--allocator", default="kept", choices=["kept", "default"], help="freed memory kept (default) or glibc's own"
    )
    args = p.parse_args(argv)
    if args.allocator == "kept":
        keep_freed_memory()
    if args.steps < 1 or args.warmup < 0:
        raise SystemExit(f"--steps >= 1 and --warmup >= 0 are needed; got {args.steps}, {args.warmup}")
    sides = steps(args.backends)
    seconds = time_sides(sides, args.steps, args.warmup)
    peer = statistics.median(seconds["peer RNNModel"])
    print(
        f"PTB word LM training step, B {BATCH} T {BPTT} V {VOCAB}, {LAYERS}x{SIZE} LSTM, "
        f"{torch.get_num_threads()} threads, freed memory {args.allocator}"
    )
    for name, values in seconds.items():
        q1, _, q3 = statistics.quantiles(values, n=4) if len(values) > 1 else values * 3
        median = statistics.median(values)
        print(
            f"{name:<16} median {1e3 * median:7.1f} ms  IQR {1e3 * q1:.1f}-{1e3 * q3:.1f}  peer / side {peer / median:.3f}"
        )
    if args.profile:
        for name in ("ours (auto)", "peer RNNModel"):
            if name in sides:
                print(f"{name}: ms per step by op (self time)\n{profile_table(sides[name])}")


if __name__ == "__main__":
    main()
