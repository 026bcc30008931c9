"""A conditional language model end to end on a tiny csv the test writes: train (experiment=conditional_lm,
debug=fast), the conditions stored as plain data, seqmodels-sample/-score/-eval and seqmodels.load with a
condition given in the command-line form, and the console scripts' error for a value the training data never had.
The commands run in-process over the composed configs (Hydra parses condition=... as on a command line)."""

from __future__ import annotations

import json

import pytest
import torch

import seqmodels
from seqmodels.checkpoints import CHECKPOINT_KEY
from seqmodels.commands.app import USER_ERRORS, report
from seqmodels.commands.evaluate import evaluate
from seqmodels.commands.sample import sample
from seqmodels.commands.score import score
from seqmodels.commands.train import train
from seqmodels.data.conditions import UnknownConditionError
from tests.helpers.configs import QUIET, compose_config, shrink


def rows() -> str:
    lines = ["label,mood,text"]
    for i in range(24):
        label, mood = ["pos", "neg"][i % 2], ["calm", "loud", "odd"][i % 3]
        lines.append(f"{label},{mood},{'good fine' if label == 'pos' else 'bad awful'} {mood}")
    return "\n".join(lines) + "\n"


@pytest.mark.slow
def test_train_sample_score_and_an_unseen_condition(tmp_path, capsys):
    (tmp_path / "train.csv").write_text(rows(), encoding="utf-8")
    overrides = [*QUIET, "experiment=conditional_lm", f"data.train={tmp_path / 'train.csv'}", "debug=fast"]
    overrides += [
        "logger=csv",
        "data.condition_columns=[label,mood]",
        "test=false",
        "sample.condition=label:neg mood:odd",
    ]
    result = train(shrink(compose_config(overrides, tmp_path / "run")))
    ckpt = result["last_model_path"]
    assert "val/ppl" in result["metrics"]
    final = {"max_new_tokens": 12, "temperature": 0.8, "seed": 0}  # the run's sample settings (shrunk)
    predictor = seqmodels.load(ckpt)
    assert result["sample"] == predictor.sample(condition="label:neg mood:odd", **final)

    stored = torch.load(ckpt, weights_only=True)[CHECKPOINT_KEY]  # plain data: no pickled object
    assert stored["conditions"]["fields"] == [
        {"name": "label", "values": ["neg", "pos"]},
        {"name": "mood", "values": ["calm", "loud", "odd"]},
    ]
    assert stored["config"]["model"]["condition_sizes"] == [2, 3]

    sampled = sample(
        compose_config([f"ckpt_path={ckpt}", "condition=label:pos mood:calm", "seed=1"], config_name="sample")
    )
    assert sampled == [
        predictor.sample(condition={"label": "pos", "mood": "calm"}, max_new_tokens=300, temperature=0.8, seed=1)
    ]
    capsys.readouterr()
    (row,) = score(
        compose_config(
            [f"ckpt_path={ckpt}", "sentences=[good fine calm]", "condition=label:pos mood:calm"], config_name="score"
        )
    )
    assert json.loads(capsys.readouterr().out) == row and row["num_tokens"] == len("good fine calm") + 1
    assert row == predictor.score(["good fine calm"], condition={"label": "pos", "mood": "calm"})[0]

    evaluated = evaluate(
        compose_config([f"ckpt_path={ckpt}", "split=val", "trainer.enable_progress_bar=false"], tmp_path / "e", "eval")
    )
    assert evaluated["val/loss"] == pytest.approx(result["metrics"]["val/loss"], rel=1e-5)

    # what the console script prints for it (USER_ERRORS: one block on stderr, exit status 2, no traceback)
    with pytest.raises(UnknownConditionError) as refused:
        sample(compose_config([f"ckpt_path={ckpt}", "condition=label:neutral mood:calm"], config_name="sample"))
    assert isinstance(refused.value, USER_ERRORS)
    assert report(refused.value).startswith(
        "error: condition label='neutral' was never seen in training; the known values of 'label' are ['neg', 'pos']"
    )
