"""seqmodels-bench on its smallest case: the JSON it writes, the threads it times with, the markdown table.

Speed itself is never asserted (the figures are in docs/PERFORMANCE.md); these check that the benchmark
measures what it says it measures.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import torch
from torch.utils import benchmark

from seqmodels.bench import kernels as bench

ROOT = Path(__file__).resolve().parents[2]


def run_smallest(tmp_path: Path, monkeypatch, threads: int) -> tuple[dict, list[int]]:
    """RNN, word shape, forward only, a few milliseconds of timing per case; the Timers' thread counts."""
    seen: list[int] = []
    original = benchmark.Timer

    def recording_timer(*args, **kwargs):
        seen.append(kwargs.get("num_threads", 1))
        return original(*args, **kwargs)

    monkeypatch.setattr(benchmark, "Timer", recording_timer)
    before = torch.get_num_threads()
    try:
        out = tmp_path / "bench.json"
        bench.main(
            [
                "--cells",
                "rnn",
                "--shapes",
                "word",
                "--modes",
                "fwd",
                "--min-run-time",
                "0.01",
                "--no-generation",
                "--threads",
                str(threads),
                "--json",
                str(out),
            ]
        )
    finally:
        torch.set_num_threads(before)
    return json.loads(out.read_text()), seen


def test_every_implementation_is_timed_side_by_side_with_the_runs_threads(tmp_path, monkeypatch):
    data, timer_threads = run_smallest(tmp_path, monkeypatch, threads=2)
    assert data["machine"]["threads"] == 2 and data["machine"]["device_type"] == "cpu"
    # torch.utils.benchmark.Timer defaults to ONE thread: every Timer (peak and cases) must get the run's count
    assert timer_threads and set(timer_threads) == {2}
    rows = {r["impl"]: r for r in data["rows"]}
    assert set(rows) == {"torch.nn", "seqmodels/auto", "seqmodels/custom", "seqmodels/torch"}
    base = rows["torch.nn"]["median_ms"]
    for impl in ("seqmodels/auto", "seqmodels/custom", "seqmodels/torch"):
        r = rows[impl]
        assert r["median_ms"] > 0 and abs(r["ratio"] - base / r["median_ms"]) < 1e-9
        B, T = bench.SHAPES["word"][:2]
        assert abs(r["tokens_per_s"] - B * T / (r["median_ms"] / 1e3)) < 1e-6 * r["tokens_per_s"]


def test_the_markdown_table_reads_the_json(tmp_path, monkeypatch, capsys):
    data, _ = run_smallest(tmp_path, monkeypatch, threads=1)
    spec = importlib.util.spec_from_file_location("bench_to_markdown", ROOT / "scripts" / "bench_to_markdown.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    capsys.readouterr()
    module.main(str(tmp_path / "bench.json"))
    table = capsys.readouterr().out
    assert "fused C gate kernels" in table and "1 threads" in table
    line = next(x for x in table.splitlines() if x.startswith("| rnn | word | fwd |"))
    auto = next(r for r in data["rows"] if r["impl"] == "seqmodels/auto")
    assert f"({auto['ratio']:.2f})" in line
