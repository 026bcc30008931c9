"""A Nottingham experiment end to end on MIDI files the test writes (debug=fast): training logs the
Bernoulli NLL, the frame accuracy and a sampled roll (image, audio) to TensorBoard; seqmodels-sample turns
the checkpoint into a MIDI file and a WAV file."""

from __future__ import annotations

import math
import wave
from pathlib import Path

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

pretty_midi = pytest.importorskip("pretty_midi", reason="the music extra: pip install seqmodels[music]")

from seqmodels.commands.sample import sample  # noqa: E402
from seqmodels.commands.train import train  # noqa: E402
from seqmodels.data.piano_roll import read_piano_roll  # noqa: E402
from tests.helpers.configs import QUIET, compose_config, shrink  # noqa: E402

pytestmark = pytest.mark.slow


def write_tunes(folder: Path, n: int = 10) -> None:
    """``n`` short tunes: a melody of eighth notes over a held chord, different for each file."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        midi = pretty_midi.PrettyMIDI(resolution=480, initial_tempo=120.0)
        piano = pretty_midi.Instrument(program=0)
        for t in range(12 + 2 * i):
            pitch = int(rng.integers(60, 80))
            piano.notes.append(pretty_midi.Note(velocity=90, pitch=pitch, start=t * 0.25, end=(t + 1) * 0.25))
        for pitch in (48, 52, 55):
            piano.notes.append(pretty_midi.Note(velocity=70, pitch=pitch, start=0.0, end=(12 + 2 * i) * 0.25))
        midi.instruments.append(piano)
        midi.write(str(folder / f"tune{i}.mid"))


def test_nottingham_experiment_trains_logs_and_samples(tmp_path):
    """nottingham_lstm on a user's folder of MIDI files (data=midi); the three experiments run on the shared
    Nottingham files with debug=fast in test_train.py's every-experiment test."""
    write_tunes(tmp_path / "tunes")
    overrides = ["experiment=nottingham_lstm", "data=midi", f"data.corpus.path={tmp_path / 'tunes'}", "debug=fast"]
    cfg = shrink(compose_config([*overrides, *QUIET], tmp_path / "run"))
    result = train(cfg)
    assert result["metrics"]["val/nll"] > 0 and cfg.data.corpus._target_.endswith("MidiFiles")

    metrics = result["metrics"]
    for key in ("train/loss", "val/loss", "val/nll", "val/acc", "test/nll", "test/acc"):
        assert math.isfinite(metrics[key]), (key, metrics)
    assert metrics["val/loss"] == metrics["val/nll"] and 0 <= metrics["val/acc"] <= 1
    # an untrained model is near 88 fair coins per frame: 88 ln 2 = 61 nats per step
    assert 30 < metrics["val/nll"] < 70
    events = EventAccumulator(result["log_dir"], size_guidance={"images": 0, "audio": 0})
    events.Reload()
    assert "samples/piano_roll" in events.Tags()["images"] and "samples/audio" in events.Tags()["audio"]
    assert {"val/nll", "val/acc", "train/loss"} <= set(events.Tags()["scalars"])

    out = tmp_path / "tune.wav"
    sample_cfg = compose_config(
        [f"ckpt_path={result['last_model_path']}", f"output_file={out}", "num_frames=16", "seed=0"],
        config_name="sample",
    )
    written = sample(sample_cfg)
    assert written == [str(out.with_suffix(".mid")), str(out)]
    assert len(read_piano_roll(out.with_suffix(".mid")).frames) <= 17  # the silent first frame + 16
    with wave.open(str(out), "rb") as f:
        assert f.getnchannels() == 1 and f.getnframes() > 0
