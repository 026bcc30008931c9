"""``seqmodels-bench``: our recurrences against torch's fused kernels, side by side in one run.

For each cell kind and shape it times ``torch.nn.{RNN,GRU,LSTM}`` and ``seqmodels.{RNN,GRU,LSTM}``
with each backend, forward-only and forward+backward, with ``torch.utils.benchmark`` (medians
and inter-quartile ranges over repeated blocks), and prints tokens/s, achieved GFLOP/s, the
share of a measured ``torch.mm`` peak, the activation memory saved for backward, and the
ratio torch time / our time (higher is better).

FLOPs count the matrix products only: per layer, direction and step ``2·B·G·H·(I_l + H)``
forward, three times that forward+backward (input, recurrent and weight gradients).

    seqmodels-bench                                  # all cells, all shapes, CPU
    seqmodels-bench --cells lstm --shapes char --min-run-time 2
    seqmodels-bench --device cuda --json bench.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch.utils import benchmark

from ..kernels import cuda_graphs
from ..kernels import loader as native

SHAPES = {  # name: (batch, seq_len, input_size, hidden_size, num_layers)
    "char": (64, 128, 64, 256, 2),
    "word": (20, 35, 200, 200, 2),
    "wide": (32, 64, 512, 512, 1),
    "fastrnns": (64, 100, 512, 512, 1),
}
GATES = {"rnn": 1, "gru": 3, "lstm": 4}
TORCH_MODULES = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}


@dataclass
class Row:
    cell: str
    shape: str
    mode: str  # "fwd" or "fwd+bwd"
    impl: str  # "torch.nn" or "seqmodels/<backend>"
    median_ms: float
    iqr_ms: float
    tokens_per_s: float
    gflops: float
    peak_pct: float
    activation_mb: float
    ratio: float | None  # torch.nn time / this time


def matmul_peak_gflops(device: torch.device, n: int = 2048, min_run_time: float = 1.0) -> float:
    """Measured float32 ``torch.mm`` throughput at n³, the yardstick for '% of peak'."""
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    m = benchmark.Timer(
        "torch.mm(a, b)", globals={"torch": torch, "a": a, "b": b}, num_threads=torch.get_num_threads()
    ).blocked_autorange(min_run_time=min_run_time)
    return 2 * n**3 / m.median / 1e9


def recurrence_flops(cell: str, shape: tuple[int, ...], bidirectional: bool = False) -> float:
    """Forward FLOPs of the matrix products of a stacked recurrence."""
    B, T, I, H, L = shape
    D = 2 if bidirectional else 1
    G = GATES[cell]
    total = 0.0
    for layer in range(L):
        size_in = I if layer == 0 else D * H
        total += D * T * 2 * B * G * H * (size_in + H)
    return total


def activation_bytes(fn: Callable[[], torch.Tensor]) -> int:
    """Bytes of the distinct tensors autograd saves for backward while ``fn`` runs its forward."""
    seen: dict[tuple[int, int], int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        seen[(storage.data_ptr(), t.device.index or 0)] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    del out
    return sum(seen.values())


def build(cell: str, impl: str, shape: tuple[int, ...], device: torch.device) -> torch.nn.Module:
    """A torch.nn module, or the seqmodels drop-in with the same weights and a backend."""
    import seqmodels

    _, _, I, H, L = shape
    torch.manual_seed(0)
    reference = TORCH_MODULES[cell](I, H, L).to(device)
    if impl == "torch.nn":
        return reference
    backend = impl.split("/", 1)[1]
    ours = getattr(seqmodels, cell.upper()).from_torch(reference)
    ours.backend = backend
    return ours.to(device)


def time_case(module: torch.nn.Module, x: torch.Tensor, mode: str, min_run_time: float) -> benchmark.Measurement:
    if mode == "fwd":
        stmt = "with torch.no_grad(): module(x)"
    else:
        stmt = "out, _ = module(x); out.sum().backward()"
    # torch.utils.benchmark runs on ONE thread unless told otherwise: time with the threads the run has
    timer = benchmark.Timer(
        stmt, globals={"torch": torch, "module": module, "x": x}, num_threads=torch.get_num_threads()
    )
    return timer.blocked_autorange(min_run_time=min_run_time)


def run_grid(args: argparse.Namespace, device: torch.device, peak: float) -> list[Row]:
    rows: list[Row] = []
    impls = ["torch.nn"] + [f"seqmodels/{b}" for b in args.backends]
    for shape_name in args.shapes:
        shape = SHAPES[shape_name]
        B, T, I, _, _ = shape
        for cell in args.cells:
            flops = recurrence_flops(cell, shape)
            x = torch.randn(T, B, I, device=device)
            for mode in args.modes:
                base_time = None
                x.requires_grad_(mode != "fwd")
                for impl in impls:
                    try:
                        module = build(cell, impl, shape, device)
                    except ValueError as err:  # a backend that does not implement this case
                        print(f"  skip {impl} {cell} {shape_name}: {err}", file=sys.stderr)
                        continue
                    m = time_case(module, x, mode, args.min_run_time)
                    work = flops * (3 if mode != "fwd" else 1)
                    mem = 0 if mode == "fwd" else activation_bytes(lambda: module(x)[0].sum())  # noqa: B023 (called in this pass)
                    if impl == "torch.nn":
                        base_time = m.median
                    row = Row(
                        cell=cell,
                        shape=shape_name,
                        mode=mode,
                        impl=impl,
                        median_ms=m.median * 1e3,
                        iqr_ms=m.iqr * 1e3,
                        tokens_per_s=B * T / m.median,
                        gflops=work / m.median / 1e9,
                        peak_pct=100 * work / m.median / 1e9 / peak,
                        activation_mb=mem / 2**20,
                        ratio=None if base_time is None or impl == "torch.nn" else base_time / m.median,
                    )
                    rows.append(row)
                    print(format_row(row), flush=True)
    return rows


def generation_steps_per_s(device: torch.device, steps: int = 1000, hidden: int = 256, layers: int = 2) -> dict:
    """Batch-1 step-by-step generation speed: torch.nn.LSTM called per step vs our step path."""
    import seqmodels

    torch.manual_seed(0)
    reference = torch.nn.LSTM(hidden, hidden, layers).to(device)
    ours = seqmodels.LSTM.from_torch(reference).to(device)
    x = torch.randn(1, hidden, device=device)
    results = {}

    def torch_loop() -> None:
        state = None
        inp = x.view(1, 1, hidden)
        with torch.inference_mode():
            for _ in range(steps):
                inp, state = reference(inp, state)

    def ours_loop() -> None:
        state = None
        inp = x
        with torch.inference_mode():
            for _ in range(steps):
                inp, state = ours.stack.step(inp, state)

    for name, fn in (("torch.nn.LSTM per step", torch_loop), ("seqmodels Stacked.step", ours_loop)):
        times = []
        fn()  # warm-up
        for _ in range(5):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        results[name] = steps / statistics.median(times)
    results["ratio"] = results["seqmodels Stacked.step"] / results["torch.nn.LSTM per step"]
    return results


HEADER = (
    f"{'cell':5} {'shape':9} {'mode':8} {'impl':22} {'median ms':>10} {'± iqr':>8} "
    f"{'tok/s':>10} {'GFLOP/s':>8} {'%peak':>6} {'act MB':>7} {'torch/ours':>10}"
)


def format_row(r: Row) -> str:
    ratio = "" if r.ratio is None else f"{r.ratio:.2f}"
    return (
        f"{r.cell:5} {r.shape:9} {r.mode:8} {r.impl:22} {r.median_ms:10.2f} {r.iqr_ms:8.2f} "
        f"{r.tokens_per_s:10.0f} {r.gflops:8.1f} {r.peak_pct:6.1f} {r.activation_mb:7.1f} {ratio:>10}"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="seqmodels-bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--cells", nargs="+", default=list(GATES), choices=list(GATES))
    p.add_argument("--only-e2e", action="store_true", help="skip the layer grid and generation; implies --e2e")
    p.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    p.add_argument("--modes", nargs="+", default=["fwd", "fwd+bwd"], choices=["fwd", "fwd+bwd"])
    p.add_argument("--backends", nargs="+", default=["auto", "custom", "torch"], choices=["auto", "custom", "torch"])
    p.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    p.add_argument("--min-run-time", type=float, default=1.0, help="seconds of timing per case (default 1.0)")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    p.add_argument(
        "--tf32",
        action="store_true",
        help="CUDA: let cuDNN and cuBLAS use TF32 tensor cores (default: off for both, so that every "
        "implementation computes in full float32; torch's own default is on for cuDNN only)",
    )
    p.add_argument("--no-generation", action="store_true", help="skip the generation benchmark")
    p.add_argument(
        "--e2e",
        action="store_true",
        help="also time seqmodels-train on ptb_word_lstm_small against a plain loop and pytorch/examples' script",
    )
    p.add_argument("--e2e-batches", type=int, default=200, help="timed training steps per side (default 200)")
    p.add_argument("--e2e-repeats", type=int, default=3, help="rounds of the sides (default 3)")
    p.add_argument(
        "--data-dir", default=None, help="folder holding ptb/ for --e2e (default: $SEQMODELS_DATA_DIR, else ./data)"
    )
    p.add_argument("--json", metavar="PATH", help="also write all figures as JSON to PATH")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda was asked for, but torch.cuda.is_available() is False")
    if device.type == "cuda":
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = args.tf32
    peak = matmul_peak_gflops(device)
    kernels = native.kernels(torch.zeros(1)) if device.type == "cpu" else None
    machine = {
        "date": time.strftime("%Y-%m-%d"),
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or platform.machine(),
        "device_type": device.type,
        "threads": torch.get_num_threads(),
        "matmul_peak_gflops": round(peak, 1),
        # the C gate kernels of the custom backend on CPU (SEQMODELS_NATIVE=0 benchmarks the ATen-op path)
        "fused_cpu_kernels": kernels is not None,
        # ... and their time loops in C, calling torch's BLAS (SEQMODELS_NATIVE_LOOPS=0: driven from Python)
        "native_loops": kernels is not None and kernels.blas is not None,
        # the custom backend's time loops replayed as CUDA graphs (SEQMODELS_CUDA_GRAPHS=0 times them eagerly)
        "cuda_graphs": device.type == "cuda" and cuda_graphs.enabled(),
        "tf32": device.type == "cuda" and args.tf32,
    }
    print(" ".join(f"{k}={v}" for k, v in machine.items()))
    if args.only_e2e:
        args.e2e, args.no_generation = True, True
    rows = []
    if not args.only_e2e:
        print(HEADER)
        rows = run_grid(args, device, peak)
    generation = None if args.no_generation else generation_steps_per_s(device)
    if generation:
        print(
            "generation (batch 1, 1000 steps, 2x256 LSTM): "
            + ", ".join(f"{k} {v:.2f}" if k == "ratio" else f"{k} {v:.0f} steps/s" for k, v in generation.items())
        )
    e2e = None
    if args.e2e:
        from .training import format_result
        from .training import run as run_e2e

        data_dir = Path(args.data_dir or os.environ.get("SEQMODELS_DATA_DIR", "data")).resolve()
        e2e = run_e2e(data_dir, batches=args.e2e_batches, repeats=args.e2e_repeats, device=device.type)
        print(format_result(e2e))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {"machine": machine, "rows": [asdict(r) for r in rows], "generation": generation, "e2e": e2e},
                f,
                indent=2,
            )
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
