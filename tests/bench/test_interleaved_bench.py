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

    def tokens(self, batches):
        return 100 * len(batches)  # what it trained on: not the command's batches


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
    assert segments.plain_tokens == [300, 300]
    # steps after the last segment are neither timed nor kept
    segments.on_train_batch_start(None, None, batches[9], 9)
    assert segments.command == [12.0, 21.0] and segments.pending == []


class StepRecorder:
    """A PlainLoop's surface: each step takes ``seconds`` of the fake clock."""

    def __init__(self, clock, seconds):
        self.clock, self.seconds_each, self.stepped = clock, seconds, []
        self.task = type("Task", (), {"model": torch.nn.Linear(1, 1)})()
        self.synchronize = lambda: None

    def step(self, batch):
        self.stepped.append(batch)
        self.clock.now += self.seconds_each


class SlowLoader:
    """A loader of ``batches`` whose every draw takes ``seconds`` of the fake clock."""

    def __init__(self, clock, batches, seconds):
        self.clock, self.batches, self.seconds_each, self.passes = clock, batches, seconds, 0

    def __iter__(self):
        self.passes += 1
        for batch in self.batches:
            self.clock.now += self.seconds_each
            yield batch


def test_the_loader_plain_loop_draws_and_times_its_own_batches(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(interleaved.time, "perf_counter", clock)
    own = [(None, torch.zeros(1, n)) for n in (2, 5, 7)]  # 2, 5 and 7 target tokens
    loader = SlowLoader(clock, own, seconds=0.25)
    steps = StepRecorder(clock, seconds=1.0)
    plain = interleaved.LoaderPlainLoop(steps, loader)
    handed = [(None, torch.zeros(1, 99))] * 4  # the command's batches: only their number counts
    assert plain.seconds(handed) == 4 * (0.25 + 1.0)  # drawing is timed with the steps
    assert [b[1].shape[1] for b in steps.stepped] == [2, 5, 7, 2]  # its own batches, a new pass after the third
    assert loader.passes == 2
    assert plain.tokens(handed) == 2 + 5 + 7 + 2


def test_bad_sizes_are_refused(tmp_path):
    with pytest.raises(ValueError, match="segment >= 1, segments >= 1, warmup >= 0, repeats >= 1"):
        interleaved.run(tmp_path, "default", segment=0)


@pytest.mark.slow
@pytest.mark.parametrize("plain_loader", [False, True])
def test_the_figures_are_the_ones_it_says(plain_loader, data_dir, tmp_path, capsys):
    out = tmp_path / "interleaved.json"
    interleaved.main(
        ["--experiment", "default", "--segment", "2", "--segments", "3", "--warmup", "1"]
        + ["--data-dir", str(data_dir), "--json", str(out)]
        + (["--plain-loader"] if plain_loader else [])
    )
    printed = capsys.readouterr().out
    (r,) = json.loads(out.read_text())
    assert r["experiment"] == "default" and r["segments"] == 3 and r["segment"] == 2
    command, plain = r["segment_seconds"]["seqmodels-train"], r["segment_seconds"]["plain loop"]
    tokens, plain_tokens = r["segment_tokens"], r["plain_segment_tokens"]
    assert len(command) == len(plain) == len(tokens) == len(plain_tokens) == 3
    if not plain_loader:
        assert plain_tokens == tokens  # the same batches
    ratios = [(p / pt) / (c / ct) for p, pt, c, ct in zip(plain, plain_tokens, command, tokens)]
    assert r["ratio"]["median"] == pytest.approx(statistics.median(ratios), rel=1e-12)
    of_totals = (sum(plain) / sum(plain_tokens)) / (sum(command) / sum(tokens))
    assert r["ratio"]["of_totals"] == pytest.approx(of_totals, rel=1e-12)
    assert r["tokens_per_s"]["plain loop"] == pytest.approx(sum(plain_tokens) / sum(plain), rel=1e-12)
    assert ("drawn from its own loader" in printed) == plain_loader
    assert f"median {r['ratio']['median']:.3f}" in printed
