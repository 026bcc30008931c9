"""Turn ``seqmodels-bench --json`` output into the markdown tables of docs/PERFORMANCE.md.

python scripts/bench_to_markdown.py bench.json > table.md
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict


def ms(value: float) -> str:
    """Milliseconds with two decimals below 10 ms (GPU times), one above."""
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def main(path: str) -> None:
    with open(path) as f:
        data = json.load(f)
    m = data["machine"]
    on_gpu = m.get("device_type", "cuda" if "NVIDIA" in m["device"] else "cpu") == "cuda"
    if on_gpu:
        switches = (
            f"`custom`'s time loops as CUDA graphs {'on' if m.get('cuda_graphs') else 'off'}, "
            f"TF32 {'on' if m.get('tf32') else 'off'}"
        )
    else:
        switches = f"fused C gate kernels {'on' if m.get('fused_cpu_kernels') else 'off'}"
        if "native_loops" in m:  # recorded from 2026-11-26 on
            switches += f", their time loops in C {'on' if m['native_loops'] else 'off'}"
    print(
        f"Machine: {m['device']}, {m['threads']} threads, torch {m['torch']}, measured `torch.mm` peak "
        f"{m['matmul_peak_gflops']} GFLOP/s; {switches}; {m['date']}.\n"
    )
    rows = defaultdict(dict)
    for r in data["rows"]:
        rows[(r["cell"], r["shape"], r["mode"])][r["impl"]] = r
    impls = ["seqmodels/auto", "seqmodels/custom", "seqmodels/torch"]
    print(
        "| cell | shape | mode | torch.nn ms (± IQR) | "
        + " | ".join(f"{i.split('/')[1]} ms (ratio)" for i in impls)
        + " | auto % of peak | act. MB torch / custom |"
    )
    print("|---|---|---|---|" + "---|" * len(impls) + "---|---|")
    for (cell, shape, mode), by_impl in rows.items():
        base = by_impl["torch.nn"]
        cells = []
        for impl in impls:
            r = by_impl.get(impl)
            cells.append("—" if r is None else f"{ms(r['median_ms'])} ({r['ratio']:.2f})")
        auto = by_impl.get("seqmodels/auto")
        custom = by_impl.get("seqmodels/custom")
        mem = "" if mode == "fwd" or custom is None else f"{base['activation_mb']:.1f} / {custom['activation_mb']:.1f}"
        peak = "—" if auto is None else f"{auto['peak_pct']:.0f}"
        print(
            f"| {cell} | {shape} | {mode} | {ms(base['median_ms'])} (± {ms(base['iqr_ms'])}) | "
            + " | ".join(cells)
            + f" | {peak} | {mem} |"
        )
    g = data.get("generation")
    if g:
        print(
            f"\nGeneration (batch 1, 1000 steps, 2×256 LSTM): torch.nn.LSTM called per step "
            f"{g['torch.nn.LSTM per step']:.0f} steps/s, `Stacked.step` {g['seqmodels Stacked.step']:.0f} steps/s "
            f"— ratio {g['ratio']:.2f}."
        )
    e = data.get("e2e")
    if e:
        print(
            f"\nTraining `{e['experiment']}` ({e['timed_batches']} batches, {e['tokens']} tokens): plain PyTorch loop "
            f"{e['plain_tokens_per_s']:.0f} tok/s, seqmodels trainer {e['trainer_tokens_per_s']:.0f} tok/s — "
            f"ratio {e['ratio']:.2f}."
        )


if __name__ == "__main__":
    main(sys.argv[1])
