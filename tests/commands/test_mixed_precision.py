"""``trainer.precision=bf16-mixed`` on CPU, end to end through ``train``: the runs whose recurrences take
unequal lengths (our C loops) or carry a state from batch to batch (bfloat16 where torch's kernel left it)."""

from __future__ import annotations

import math
from pathlib import Path

from seqmodels.commands.train import train
from tests.helpers.configs import QUIET, compose_config, shrink

BF16 = "trainer.precision=bf16-mixed"


def run(experiment: str, overrides: list[str], output: Path, **tiny: object) -> dict:
    cfg = compose_config([*QUIET, f"experiment={experiment}", "debug=fast", "logger=csv", BF16, *overrides], output)
    cfg = shrink(cfg, **tiny)
    cfg.trainer.enable_progress_bar = False
    return train(cfg)


def assert_trained(result: dict, *keys: str) -> None:
    assert result["global_step"] == 3
    for key in keys:
        assert math.isfinite(float(result["metrics"][key])), (key, result["metrics"][key])


def test_a_tagger_on_sentences_of_unequal_lengths(tmp_path):
    sentences = ["The DT B-NP\ncat NN I-NP\nsat VBD B-VP\n", "A DT B-NP\ndog NN I-NP\nran VBD B-VP\nhome NN B-NP\n"]
    (tmp_path / "train.txt").write_text("\n".join(sentences * 20), encoding="utf-8")
    (tmp_path / "test.txt").write_text("\n".join(sentences), encoding="utf-8")
    overrides = [f"data.train={tmp_path / 'train.txt'}", f"data.test={tmp_path / 'test.txt'}"]
    result = run("tagger", overrides, tmp_path / "run", **{"data.batch_size": 16, "model.hidden_size": 64})
    assert_trained(result, "train/loss_epoch", "val/loss", "test/f1")


def test_the_default_language_model_carries_its_state(tmp_path):
    result = run("default", ["test=false"], tmp_path / "run")
    assert_trained(result, "train/loss_epoch", "val/loss")


def test_a_translator_with_attention(tmp_path):
    (tmp_path / "train.src").write_text("".join(f"ein {'gross ' * (i % 4)}haus {i}\n" for i in range(60)), "utf-8")
    (tmp_path / "train.tgt").write_text("".join(f"a {'big ' * (i % 4)}house {i}\n" for i in range(60)), "utf-8")
    pair = f"data.train=[{tmp_path / 'train.src'},{tmp_path / 'train.tgt'}]"
    result = run("translator", [pair, "data.min_freq=1", "test=false"], tmp_path / "run")
    assert_trained(result, "train/loss_epoch", "val/loss")
