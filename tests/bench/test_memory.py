"""``python -m seqmodels.bench.memory`` at a small size: the figures it writes, and the property it backs in
docs/RELIABILITY.md: evaluating a language model over a token stream ten times longer takes no more memory.

One benchmark run (six fresh Python processes, each measuring its own lifetime peak RSS) serves all tests.
Times are never asserted.
"""

from __future__ import annotations

import json
import math
from contextlib import redirect_stdout
from io import StringIO

import pytest

from seqmodels.bench import memory

pytestmark = pytest.mark.slow  # six Python processes, each importing torch and Lightning

MIB = 1024 * 1024
HIDDEN = 32  # the language model's LSTM (one layer) and embedding size


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[dict, str]:
    """The JSON the benchmark writes and the table it prints: streams of 20k and 200k tokens,
    classifier sequences of 100 and 200 steps."""
    out = tmp_path_factory.mktemp("memory") / "memory.json"
    printed = StringIO()
    with redirect_stdout(printed):
        memory.main(
            [
                "--tokens",
                "200000",
                "--steps",
                "200",
                "--batch",
                "4",
                "--lm-hidden",
                str(HIDDEN),
                "--lm-layers",
                "1",
                "--device",
                "cpu",
                "--json",
                str(out),
            ]
        )
    return json.loads(out.read_text()), printed.getvalue()


def test_evaluating_a_language_model_does_not_grow_with_the_stream(report):
    """Peak RSS of ``trainer.test`` over 210k tokens against 21k, each in a fresh process.

    Keeping anything per token would show: one float32 hidden vector per token is 128 bytes, 23 MiB over
    the extra 189k tokens; the logits (2,000 words) 1.4 GiB. The bound, 48 bytes per extra token (8.7 MiB),
    is far below either; measured: +0.4 MiB.
    """
    data, _ = report
    small, big = data["scenarios"]["lm_eval_20000_tokens"], data["scenarios"]["lm_eval_200000_tokens"]
    extra_tokens = big["metrics"]["tokens"] - small["metrics"]["tokens"]
    assert extra_tokens >= 9 * small["metrics"]["tokens"], (small, big)
    growth = (big["rss_peak_mib"] - small["rss_peak_mib"]) * MIB
    assert growth < 48 * extra_tokens, f"peak RSS grew {growth / MIB:.1f} MiB for {extra_tokens} more tokens"


def test_every_scenario_reports_its_figures(report):
    data, table = report
    assert data["device"] == "cpu" and data["threads"] == 1
    assert (data["lm_hidden"], data["lm_layers"]) == (HIDDEN, 1) and len(data["load_average"]) == 3
    scenarios = data["scenarios"]
    assert list(scenarios) == [
        "lm_eval_20000_tokens",
        "lm_eval_200000_tokens",
        "classify_100_steps",
        "classify_200_steps",
    ]
    for name, r in scenarios.items():
        assert {"seconds", "rss_setup_mib", "rss_peak_mib", "rss_eval_mib", "metrics"} <= set(r), name
        assert "cuda_peak_mib" not in r
        # a Python process with torch and Lightning imported: hundreds of MiB, and the peak is never below setup
        assert 100 < r["rss_setup_mib"] <= r["rss_peak_mib"] < 4096, (name, r)
        assert r["rss_eval_mib"] == pytest.approx(r["rss_peak_mib"] - r["rss_setup_mib"], abs=0.11), (name, r)
        assert r["seconds"] >= 0 and math.isfinite(r["metrics"]["test/loss"]) and r["metrics"]["test/loss"] > 0
        assert name in table
    # the streams hold at least the words asked for (the corpus writes whole lines) plus one end-of-line per line
    for n in (20_000, 200_000):
        tokens = scenarios[f"lm_eval_{n}_tokens"]["metrics"]["tokens"]
        assert n < tokens <= n * 1.1, (n, tokens)
        # untrained on 2,000 words: the loss is near log(2,000 + specials)
        assert abs(scenarios[f"lm_eval_{n}_tokens"]["metrics"]["test/loss"] - math.log(2000)) < 0.5
    for steps in (100, 200):
        assert scenarios[f"classify_{steps}_steps"]["metrics"] | {"test/loss": 0} == {
            "test/loss": 0,
            "steps": steps,
            "sequences": 4,
        }
