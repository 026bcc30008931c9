"""The interleaved benchmark (seqmodels/bench/interleaved.py): the command's steps are timed in segments, each
followed by the plain loop on that segment's very batches; the figures are the ones it says. Speed itself is
never asserted (the measured figures are in docs/PERFORMANCE.md)."""

from __future__ import annotations

import json
import statistics

import pytest
import torch

from seqmodels.bench import interleaved


class FakePlain:
    """Records the batches it is handed; each call takes ``seconds`` of the fake clock."""

    def __init__(self, clock, seconds):
        self.clock, self.seconds_each, self.calls = clock, seconds, []

    def seconds(self, batches):
        self.calls.append(list(batches))
        self.clock.now += self.seconds_each
        return self.seconds_each


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_segments_alternate_with_the_plain_loop_on_the_same_batches(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(interleaved.time, "perf_counter", clock)
    plain = FakePlain(clock, seconds=0.5)
    segments = interleaved.SegmentClock(plain, warmup=2, segment=3, segments=2)
    assert segments.steps_needed == 2 + 3 * 2 + 1
    batches = [(None, torch.zeros(1, n + 1)) for n in range(10)]  # batch i has i + 1 target tokens
    for index, batch in enumerate(batches[: segments.steps_needed]):
        segments.on_train_batch_start(None, None, batch, index)
        clock.now += 1.0 + index  # the command's step i takes 1 + i seconds
    # the plain loop's warmup on the command's warmup batches, then one call per segment on its batches
    assert [len(c) for c in plain.calls] == [2, 3, 3]
    assert plain.calls[1] == batches[2:5] and plain.calls[2] == batches[5:8]
    # the command's time excludes the plain loop's: steps 2-4 took 3 + 4 + 5 s, steps 5-7 6 + 7 + 8 s
    assert segments.command == [12.0, 21.0]
    assert segments.plain_seconds == [0.5, 0.5]
    assert segments.tokens == [3 + 4 + 5, 6 + 7 + 8]
    # steps after the last segment are neither timed nor kept
    segments.on_train_batch_start(None, None, batches[9], 9)
    assert segments.command == [12.0, 21.0] and segments.pending == []


def test_bad_sizes_are_refused(tmp_path):
    with pytest.raises(ValueError, match="segment >= 1, segments >= 1, warmup >= 0, repeats >= 1"):
        interleaved.run(tmp_path, "default", segment=0)


@pytest.mark.slow
def test_the_figures_are_the_ones_it_says(data_dir, tmp_path, capsys):
    out = tmp_path / "interleaved.json"
    interleaved.main(
        ["--experiment", "default", "--segment", "2", "--segments", "3", "--warmup", "1"]
        + ["--data-dir", str(data_dir), "--json", str(out)]
    )
    printed = capsys.readouterr().out
    (r,) = json.loads(out.read_text())
    assert r["experiment"] == "default" and r["segments"] == 3 and r["segment"] == 2
    command, plain = r["segment_seconds"]["seqmodels-train"], r["segment_seconds"]["plain loop"]
    assert len(command) == len(plain) == len(r["segment_tokens"]) == 3
    ratios = [p / c for p, c in zip(plain, command)]
    assert r["ratio"]["median"] == pytest.approx(statistics.median(ratios), rel=1e-12)
    assert r["ratio"]["of_totals"] == pytest.approx(sum(plain) / sum(command), rel=1e-12)
    assert r["tokens_per_s"]["plain loop"] == pytest.approx(sum(r["segment_tokens"]) / sum(plain), rel=1e-12)
    assert f"median {r['ratio']['median']:.3f}" in printed
