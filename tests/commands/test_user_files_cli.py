"""The generic experiments end to end on files the tests write, as a user runs them: sequence_classifier
(.ts, CSV, .npz), char_lm (a folder of .py files), word_lm (BPE, no test file), tagger (a column file) and
translator (a source/target file pair), each with debug=fast; the series checkpoint evaluated again."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

import numpy as np
import pytest

from seqmodels.checkpoints import CHECKPOINT_KEY, load_checkpoint
from seqmodels.commands.evaluate import evaluate
from seqmodels.commands.train import train
from tests.helpers import REPO_ROOT
from tests.helpers.configs import QUIET, cli_env, compose_config, script, shrink

pytestmark = pytest.mark.slow


def labelled_series(n: int, seed: int) -> tuple[list[np.ndarray], list[str]]:
    """``n`` two-feature series of 5-9 steps; the class is the sign of the first feature's mean."""
    rng = np.random.default_rng(seed)
    series, labels = [], []
    for i in range(n):
        label = ("up", "down")[i % 2]
        x = rng.normal(size=(int(rng.integers(5, 10)), 2)).round(3)
        x[:, 0] += 1.0 if label == "up" else -1.0
        series.append(x)
        labels.append(label)
    return series, labels


def write_ts(path: Path, series: list[np.ndarray], labels: list[str]) -> Path:
    body = "".join(
        ":".join(",".join(str(v) for v in s[:, f]) for f in range(2)) + f":{y}\n" for s, y in zip(series, labels)
    )
    path.write_text("@problemName Toy\n@dimensions 2\n@classLabel true up down\n@data\n" + body, encoding="utf-8")
    return path


def write_csv(path: Path, series: list[np.ndarray], labels: list[str]) -> Path:
    rows = [f"s{i},{t},{y},{s[t, 0]},{s[t, 1]}" for i, (s, y) in enumerate(zip(series, labels)) for t in range(len(s))]
    path.write_text("id,step,label,a,b\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def write_npz(path: Path, series: list[np.ndarray], labels: list[str]) -> Path:
    X = np.zeros((len(series), max(len(s) for s in series), 2))
    for i, s in enumerate(series):
        X[i, : len(s)] = s
    np.savez(path, X=X, y=np.array(labels), lengths=np.array([len(s) for s in series]))
    return path


def run_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [script("seqmodels-train"), *args, "debug=fast", *QUIET, "logger=csv", "hydra.run.dir=run"],
        cwd=cwd,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def run_here(experiment: str, overrides: list[str], output: Path, **tiny: object) -> dict:
    cfg = shrink(
        compose_config([*QUIET, f"experiment={experiment}", "debug=fast", "logger=csv", *overrides], output), **tiny
    )
    cfg.trainer.enable_progress_bar = False
    return train(cfg)


def test_sequence_classifier_on_ts_train_and_npz_test_from_the_command_line(tmp_path):
    write_ts(tmp_path / "train.ts", *labelled_series(40, 0))
    write_npz(tmp_path / "test.npz", *labelled_series(10, 1))
    done = run_cli(
        ["experiment=sequence_classifier", "data.train=train.ts", "data.test=test.npz", "model.hidden_size=8"], tmp_path
    )
    assert "test/acc" in done.stdout and "val/acc" in done.stdout
    checkpoint = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.ckpt")
    stored = checkpoint[CHECKPOINT_KEY]
    assert stored["config"]["data"]["train"] == str(tmp_path.resolve() / "train.ts")  # absolute: eval runs anywhere
    assert stored["config"]["model"]["input_size"] == 2
    assert list(checkpoint["hyper_parameters"]["label_names"]) == ["up", "down"]  # the @classLabel order


def test_sequence_classifier_on_csv_and_npz_and_evaluated_again(tmp_path):
    train_csv = write_csv(tmp_path / "train.csv", *labelled_series(40, 2))
    test_npz = write_npz(tmp_path / "test.npz", *labelled_series(10, 3))
    result = run_here(
        "sequence_classifier",
        [f"data.train={train_csv}", f"data.test={test_npz}", "data.time_column=step"],
        tmp_path / "run",
    )
    assert result["global_step"] == 3 and "test/acc" in result["metrics"]
    evaluated = evaluate(
        compose_config([f"ckpt_path={result['last_model_path']}", "logger=csv"], tmp_path / "eval", config_name="eval")
    )
    assert 0.0 <= evaluated["test/acc"] <= 1.0  # the data rebuilt from the stored config, its sizes checked


def test_char_lm_on_a_folder_of_python_files_from_the_command_line(tmp_path):
    folder = tmp_path / "code"
    folder.mkdir()
    for source in sorted((REPO_ROOT / "seqmodels" / "data").glob("*.py"))[:6]:
        (folder / source.name).write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    done = run_cli(
        [
            "experiment=char_lm",
            "data.train=code",
            "data.cache_dir=cache",
            "model.hidden_size=16",
            "model.num_layers=1",
            "data.bptt=32",
            "data.batch_size=4",
            "sample.max_new_tokens=20",
        ],
        tmp_path,
    )
    assert "test/loss" in done.stdout and "Sample (prompt '')" in done.stdout
    assert len(list((tmp_path / "cache" / "lm").iterdir())) == 1  # one cache entry for the folder


def test_word_lm_with_bpe_and_no_test_file_skips_the_test(tmp_path, caplog):
    text = "".join(f"the {w} sat on the mat number {i}\n" for i in range(300) for w in ("cat", "dog"))
    train_file = tmp_path / "train.txt"
    train_file.write_text(text, encoding="utf-8")
    valid_file = tmp_path / "valid.txt"
    valid_file.write_text(text[:4000], encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="seqmodels.commands.train"):
        result = run_here(
            "word_lm",
            [
                f"data.train={train_file}",
                f"data.valid={valid_file}",
                "data.test_fraction=0",
                "data/tokenizer=bpe",
                "data.tokenizer.vocab_size=300",
                f"data.cache_dir={tmp_path / 'cache'}",
            ],
            tmp_path / "run",
            **{"model.embedding_dim": 12},
        )  # tied weights: embedding_dim = hidden_size
    assert "val/loss" in result["metrics"] and not any(k.startswith("test/") for k in result["metrics"])
    assert any("the test is skipped" in r.message for r in caplog.records)
    stored = load_checkpoint(result["last_model_path"])[CHECKPOINT_KEY]
    assert stored["encoder"]["tokenizer"]["type"] == "bpe"


def test_tagger_on_a_column_file_from_the_command_line(tmp_path):
    sentences = ["The DT B-NP\ncat NN I-NP\nsat VBD B-VP\n", "A DT B-NP\ndog NN I-NP\nran VBD B-VP\n"]
    (tmp_path / "train.txt").write_text("\n".join(sentences * 20), encoding="utf-8")
    (tmp_path / "test.txt").write_text("\n".join(sentences), encoding="utf-8")
    done = run_cli(
        [
            "experiment=tagger",
            "data.train=train.txt",
            "data.test=test.txt",
            "data.feature_columns=[1]",
            "model.hidden_size=8",
            "model.embedding_dim=8",
        ],
        tmp_path,
    )
    assert "test/f1" in done.stdout and "test/acc" in done.stdout


def test_translator_on_a_file_pair(tmp_path):
    (tmp_path / "train.src").write_text("".join(f"ein haus {i}\n" for i in range(60)), encoding="utf-8")
    (tmp_path / "train.tgt").write_text("".join(f"a house {i}\n" for i in range(60)), encoding="utf-8")
    pair = f"data.train=[{tmp_path / 'train.src'},{tmp_path / 'train.tgt'}]"
    result = run_here("translator", [pair, "data.min_freq=1", "test=false"], tmp_path / "run")
    assert "val/bleu" in result["metrics"] and result["global_step"] == 3
