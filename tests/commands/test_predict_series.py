"""seqmodels-train -> seqmodels-predict / seqmodels-eval for a sequence classifier on files the test writes: a set
separable by the sign of its values (an "up" series lies near +2, a "down" one near -2), trained in-process from
one directory with relative paths (data.train=train.csv) and predicted and evaluated from another. Every input
format of the training reader is predicted (.ts, .npz, CSV one row per time step, CSV one row per series): the
labels must be the gold ones and the probabilities the network's own on the series standardised by hand with the
mean and std of the training file (numpy), so the stored statistics and column options were applied."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from seqmodels.checkpoints import CHECKPOINT_KEY, load_checkpoint, load_model
from seqmodels.commands.evaluate import evaluate
from seqmodels.commands.predict import predict
from seqmodels.commands.train import train
from tests.helpers.configs import QUIET, cli_env, compose_config, script

pytestmark = pytest.mark.slow
LABELS = ("up", "down")


def separable(n: int, seed: int) -> tuple[list[np.ndarray], list[str]]:
    """``n`` univariate series of 4-8 steps, alternately up (values near +2) and down (near -2)."""
    rng = np.random.default_rng(seed)
    series, labels = [], []
    for i in range(n):
        label = LABELS[i % 2]
        x = (2.0 if label == "up" else -2.0) + rng.normal(scale=0.3, size=(int(rng.integers(4, 9)), 1))
        series.append(x.round(3))
        labels.append(label)
    return series, labels


def write_long(path: Path, series: list[np.ndarray], labels: list[str]) -> None:
    """One row per time step, ``id,t,label,value``, the steps of each series in reverse order (t sorts them)."""
    rows = [f"s{i},{t},{y},{x[t, 0]}" for i, (x, y) in enumerate(zip(series, labels)) for t in reversed(range(len(x)))]
    path.write_text("id,t,label,value\n" + "\n".join(rows) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("series")
    train_set, valid_set, test_set = separable(40, 0), separable(12, 1), separable(10, 2)
    write_long(root / "train.csv", *train_set)
    write_long(root / "valid.csv", *valid_set)
    write_long(root / "test.csv", *test_set)
    overrides = [
        *QUIET,
        "experiment=sequence_classifier",
        "logger=csv",
        "data.train=train.csv",  # relative to the directory the run starts in
        "data.valid=valid.csv",  # so that the training split is the whole train file (for the statistics)
        "data.test=test.csv",
        "data.time_column=t",
        "data.batch_size=8",
        "data.min_batches_per_epoch=25",
        "model.hidden_size=8",
        "model.embedding_dim=8",
        "task.optimizer.lr=0.01",
        "trainer.max_epochs=2",
        "trainer.enable_progress_bar=false",
    ]
    before = Path.cwd()
    os.chdir(root)
    try:
        result = train(compose_config(overrides, root / "run"))
    finally:
        os.chdir(before)
    elsewhere = tmp_path_factory.mktemp("elsewhere")  # every later command runs here
    values = np.concatenate(train_set[0])  # (steps, 1): what the training split held
    return {
        "root": root,
        "ckpt": Path(result["last_model_path"]),
        "elsewhere": elsewhere,
        "test": test_set,
        "mean": values.mean(axis=0),
        "std": values.std(axis=0),
    }


def network_probabilities(trained: dict, series: list[np.ndarray]) -> list[dict[str, float]]:
    """The softmax of the network run directly on each series standardised with numpy's mean and std."""
    model, _, _ = load_model(trained["ckpt"])
    names = load_checkpoint(trained["ckpt"])["hyper_parameters"]["label_names"]
    out = []
    for x in series:
        z = torch.tensor((x - trained["mean"]) / trained["std"], dtype=torch.float32)[None]
        with torch.no_grad():
            probs = torch.softmax(model(z)[0][0].double(), -1)
        out.append({name: float(p) for name, p in zip(names, probs)})
    return out


def predicted(trained: dict, input_file: Path, *overrides: str) -> list[dict]:
    out = trained["elsewhere"] / f"{input_file.name}.jsonl"
    cfg = compose_config(
        [f"ckpt_path={trained['ckpt']}", f"input_file={input_file}", f"output_file={out}", "batch_size=3", *overrides],
        config_name="predict",
    )
    before = Path.cwd()
    os.chdir(trained["elsewhere"])
    try:
        predict(cfg)
    finally:
        os.chdir(before)
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def check(trained: dict, rows: list[dict], position: list[dict]) -> None:
    series, gold = trained["test"]
    assert [{k: r[k] for k in ("line", "id", "index") if k in r} for r in rows] == position
    assert [r["label"] for r in rows] == gold  # the set is separable: a trained model gets every series right
    for row, expected in zip(rows, network_probabilities(trained, series)):
        assert row["probabilities"] == pytest.approx(expected, abs=1e-5)


def test_the_stored_config_names_the_files_by_absolute_path(trained):
    stored = load_checkpoint(trained["ckpt"])[CHECKPOINT_KEY]["config"]["data"]
    root = trained["root"]
    assert (stored["train"], stored["valid"], stored["test"]) == tuple(
        str(root / f"{s}.csv") for s in ("train", "valid", "test")
    )


def test_csv_one_row_per_step_read_with_the_training_columns(trained):
    """The stored data.time_column=t orders the reversed rows; the ids (the auto id column) are in the output."""
    rows = predicted(trained, trained["root"] / "test.csv")
    lines = np.cumsum([2] + [len(x) for x in trained["test"][0][:-1]])  # each series' first row
    check(trained, rows, [{"line": int(n), "id": f"s{i}"} for i, n in enumerate(lines)])


def test_ts_file(trained):
    series, gold = trained["test"]
    body = "".join(",".join(str(v) for v in x[:, 0]) + f":{y}\n" for x, y in zip(series, gold))
    path = trained["elsewhere"] / "test.ts"
    path.write_text("@problemName Toy\n@dimensions 1\n@classLabel true up down\n@data\n" + body, encoding="utf-8")
    check(trained, predicted(trained, path), [{"line": 5 + i} for i in range(len(series))])


def test_npz_of_padded_series_with_lengths(trained):
    series, gold = trained["test"]
    X = np.full((len(series), 8), 99.0)  # (N, T): one feature; the padding must be cut by lengths
    for i, x in enumerate(series):
        X[i, : len(x)] = x[:, 0]
    path = trained["elsewhere"] / "test.npz"
    np.savez(path, X=X, y=np.array(gold), lengths=np.array([len(x) for x in series]))
    check(trained, predicted(trained, path), [{"index": i} for i in range(len(series))])


def test_csv_one_row_per_series_from_the_command_line(trained):
    """Wide CSV needs the stored time column unset (+data.time_column=null); the console script from elsewhere."""
    series, gold = trained["test"]
    rows = [",".join([y, *(str(v) for v in x[:, 0])] + [""] * (8 - len(x))) for x, y in zip(series, gold)]
    path = trained["elsewhere"] / "wide.csv"
    path.write_text("label," + ",".join(f"v{t}" for t in range(8)) + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    args = [script("seqmodels-predict"), f"ckpt_path={trained['ckpt']}", "input_file=wide.csv", "output_file=w.jsonl"]
    done = subprocess.run(
        [*args, "+data.time_column=null"], cwd=trained["elsewhere"], env=cli_env(), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = (trained["elsewhere"] / "w.jsonl").read_text(encoding="utf-8").splitlines()
    check(trained, [json.loads(line) for line in lines], [{"line": 2 + i} for i in range(len(series))])
    env = cli_env(HYDRA_FULL_ERROR="0")  # a user's mistake, as users see it
    refused = subprocess.run(args, cwd=trained["elsewhere"], env=env, capture_output=True, text=True)
    assert refused.returncode == 2 and "time_column='t' orders the rows of a series" in refused.stderr


def test_eval_from_another_directory(trained):
    cfg = compose_config(
        [f"ckpt_path={trained['ckpt']}", "logger=csv", "trainer.enable_progress_bar=false"],
        trained["elsewhere"] / "eval",
        config_name="eval",
    )
    before = Path.cwd()
    os.chdir(trained["elsewhere"])
    try:
        metrics = evaluate(cfg)
    finally:
        os.chdir(before)
    assert metrics["test/acc"] == 1.0  # test.csv, found by its stored absolute path
