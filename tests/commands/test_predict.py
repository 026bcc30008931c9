"""seqmodels-train -> seqmodels-predict -> seqmodels-eval, end to end on real data with tiny models (debug=fast):
a classifier (SST-2 sentences), a tagger (CoNLL-2000 chunks) and a regressor (the adding problem, series in an
.npz). The JSON lines are checked against the network run directly on each input, and the per-class report of
seqmodels-eval against precision/recall/F1 counted by hand from the predictions and the gold labels."""

from __future__ import annotations

import gzip
import json
import math
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from seqeval.metrics.sequence_labeling import get_entities

from seqmodels.checkpoints import CHECKPOINT_KEY, load_checkpoint, load_model
from seqmodels.commands.evaluate import evaluate
from seqmodels.commands.train import train
from tests.helpers.configs import QUIET, cli_env, compose_config, missing_data, script, shrink
from tests.helpers.handmade_checkpoints import LSTM, WORDS, word_encoder, write_checkpoint

pytestmark = pytest.mark.slow


def trained(experiment: str, out: Path) -> Path:
    """The last checkpoint of ``experiment`` trained for 3 steps with a tiny model."""
    cfg = shrink(compose_config([*QUIET, f"experiment={experiment}", "debug=fast", "logger=csv"], out))
    reason = missing_data(cfg)
    if reason:
        pytest.skip(reason)
    return Path(train(cfg)["last_model_path"])


def run(args: list[str], cwd: Path, expect: int = 0) -> subprocess.CompletedProcess:
    """Run a console script; a user's mistake (``expect=2``) is reported as users see it, without the trace."""
    env = cli_env(HYDRA_FULL_ERROR="0") if expect == 2 else cli_env()
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == expect, f"{args}\nSTDOUT:\n{result.stdout[-3000:]}\nSTDERR:\n{result.stderr[-3000:]}"
    return result


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# ------------------------------------------------------------------------------ classifier
@pytest.fixture(scope="module")
def sst2(tmp_path_factory, data_dir):
    root = tmp_path_factory.mktemp("sst2")
    ckpt = trained("sst2_bilstm", root / "train")
    rows = (data_dir / "sst2" / "sentence" / "stsa.binary.test").read_text(encoding="utf-8").splitlines()
    gold = [int(row.split(" ", 1)[0]) for row in rows]
    texts = [row.split(" ", 1)[1] for row in rows]
    (root / "test.txt").write_text("".join(t + "\n" for t in texts), encoding="utf-8")
    run([script("seqmodels-predict"), f"ckpt_path={ckpt}", "input_file=test.txt", "output_file=pred.jsonl"], root)
    return {"root": root, "ckpt": ckpt, "texts": texts, "gold": gold, "predictions": read_jsonl(root / "pred.jsonl")}


def test_classifier_writes_one_line_per_input_with_label_strings_and_probabilities(sst2):
    predictions, texts = sst2["predictions"], sst2["texts"]
    names = load_checkpoint(sst2["ckpt"])["hyper_parameters"]["label_names"]
    assert names == ["negative", "positive"]
    assert len(predictions) == len(texts) == 1821
    assert [p["line"] for p in predictions] == list(range(1, len(texts) + 1))
    for p in predictions:
        assert p["label"] in names and set(p["probabilities"]) == set(names)
        assert math.fsum(p["probabilities"].values()) == pytest.approx(1.0, abs=1e-9)
        assert p["probabilities"][p["label"]] == max(p["probabilities"].values())


def test_classifier_predictions_are_the_networks_argmax(sst2):
    """Each sentence run through the network on its own, its ids looked up by hand (lower-cased words,
    <unk> for unknown ones, the first data.max_length of them as training kept)."""
    model, encoder, config = load_model(sst2["ckpt"])
    stoi, unk = encoder.vocab.stoi, encoder.vocab.unk_index
    max_length = config["data"]["max_length"]
    names = load_checkpoint(sst2["ckpt"])["hyper_parameters"]["label_names"]
    for text, p in zip(sst2["texts"], sst2["predictions"]):
        ids = [stoi.get(w, unk) for w in text.lower().split()][:max_length]
        with torch.no_grad():
            probs = torch.softmax(model(torch.tensor([ids]))[0][0].double(), -1)
        assert p["label"] == names[int(probs.argmax())]
        assert p["probabilities"][p["label"]] == pytest.approx(float(probs.max()), abs=1e-5)


def test_eval_reports_per_class_figures_that_match_a_count_by_hand(sst2):
    root = sst2["root"]
    result = run(
        [
            script("seqmodels-eval"),
            f"ckpt_path={sst2['ckpt']}",
            "trainer.enable_progress_bar=false",
            "hydra.run.dir=eval",
        ],
        root,
    )
    report = json.loads((root / "eval" / "eval.json").read_text())
    names = ["negative", "positive"]
    predicted = [names.index(p["label"]) for p in sst2["predictions"]]
    gold = sst2["gold"]
    matrix = [[sum(1 for g, p in zip(gold, predicted) if g == i and p == j) for j in range(2)] for i in range(2)]
    assert report["confusion_matrix"] == {"labels": names, "rows": matrix}
    for c, row in enumerate(report["classes"]):
        tp = sum(1 for g, p in zip(gold, predicted) if g == c and p == c)
        fp = sum(1 for g, p in zip(gold, predicted) if g != c and p == c)
        fn = sum(1 for g, p in zip(gold, predicted) if g == c and p != c)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        assert row["label"] == names[c] and row["support"] == tp + fn
        assert (row["precision"], row["recall"], row["f1"]) == pytest.approx((precision, recall, f1), abs=1e-12)
    assert report["accuracy"] == pytest.approx(report["test/acc"], abs=1e-6)
    cross_entropy = -np.mean([math.log(p["probabilities"][names[g]]) for p, g in zip(sst2["predictions"], gold)])
    assert report["test/loss"] == pytest.approx(cross_entropy, rel=1e-4)  # the probabilities are the task's
    assert report["macro"]["f1"] == pytest.approx(report["test/f1"], abs=1e-6)
    assert "confusion matrix (rows: true class, columns: predicted class)" in result.stdout
    assert all(name in result.stdout for name in names)


def test_text_on_the_command_line_and_top_k(sst2):
    result = run(
        [script("seqmodels-predict"), f"ckpt_path={sst2['ckpt']}", "text=a gripping, funny film — für alle", "top_k=1"],
        sst2["root"],
    )
    (line,) = result.stdout.splitlines()
    row = json.loads(line)
    assert set(row) == {"label", "probabilities"} and list(row["probabilities"]) == [row["label"]]


def test_bad_inputs_are_named(sst2, tmp_path):
    ckpt, predict = sst2["ckpt"], script("seqmodels-predict")
    missing = run([predict, f"ckpt_path={ckpt}", "input_file=nowhere.txt"], tmp_path, expect=2)
    assert "error: input_file=nowhere.txt: no such file" in missing.stderr and "Traceback" not in missing.stderr
    (tmp_path / "gap.txt").write_text("a fine film\n\nthe end\n", encoding="utf-8")
    gap = run([predict, f"ckpt_path={ckpt}", "input_file=gap.txt"], tmp_path, expect=2)
    assert "gap.txt:2: empty input" in gap.stderr and "skip_empty=true" in gap.stderr
    skipped = run([predict, f"ckpt_path={ckpt}", "input_file=gap.txt", "skip_empty=true"], tmp_path)
    assert [json.loads(line)["line"] for line in skipped.stdout.splitlines()] == [1, 3]
    both = run([predict, f"ckpt_path={ckpt}", "input_file=gap.txt", "text=hi"], tmp_path, expect=2)
    assert "give exactly one of text=" in both.stderr
    lm = tmp_path / "lm.ckpt"
    write_checkpoint(
        lm,
        "language_model",
        {
            "_target_": "seqmodels.models.RNNLanguageModel",
            "vocab_size": len(WORDS),
            "cell": LSTM,
            "embedding_dim": 4,
            "hidden_size": 4,
            "num_layers": 1,
        },
        word_encoder(),
    )
    refused = run([predict, f"ckpt_path={lm}", "text=the film"], tmp_path, expect=2)
    assert "holds a language model" in refused.stderr and "seqmodels-sample" in refused.stderr


def test_series_classifier_reads_a_ts_file_standardised_as_in_training(tmp_path, data_dir):
    """JapaneseVowels (data.normalize=true): the probabilities of the raw test series give eval's test loss,
    so the training mean and std travelled in the checkpoint and were applied."""
    ckpt = trained("japanese_vowels_gru", tmp_path / "train")
    test_file = data_dir / "uea_ts" / "JapaneseVowels_TEST.ts"
    run(
        [script("seqmodels-predict"), f"ckpt_path={ckpt}", f"input_file={test_file}", "output_file=pred.jsonl"],
        tmp_path,
    )
    predictions = read_jsonl(tmp_path / "pred.jsonl")
    rows = [line.strip() for line in test_file.read_text().splitlines()]
    data = rows[rows.index("@data") + 1 :]
    gold = [row.rsplit(":", 1)[1] for row in data if row]
    assert len(predictions) == len(gold) == 370
    metrics = evaluate(
        compose_config(
            [f"ckpt_path={ckpt}", "trainer.enable_progress_bar=false", "logger=csv"],
            tmp_path / "eval",
            config_name="eval",
        )
    )
    cross_entropy = -np.mean([math.log(p["probabilities"][g]) for p, g in zip(predictions, gold)])
    assert metrics["test/loss"] == pytest.approx(cross_entropy, rel=1e-4)
    assert metrics["test/acc"] == pytest.approx(np.mean([p["label"] == g for p, g in zip(predictions, gold)]), abs=1e-6)


# ------------------------------------------------------------------------------ tagger
def test_tagger_tags_conll_sentences_as_the_network_does(tmp_path, data_dir):
    ckpt = trained("conll2000_chunk_bilstm", tmp_path / "train")
    with gzip.open(data_dir / "conll2000" / "test.txt.gz", "rt", encoding="utf-8") as f:
        sentences = f.read().split("\n\n")[:60]
    (tmp_path / "test.conll").write_text("\n\n".join(sentences) + "\n", encoding="utf-8")
    run([script("seqmodels-predict"), f"ckpt_path={ckpt}", "input_file=test.conll", "output_file=tags.jsonl"], tmp_path)
    predictions = read_jsonl(tmp_path / "tags.jsonl")
    assert len(predictions) == 60
    model, encoder, _ = load_model(ckpt)
    names = load_checkpoint(ckpt)["hyper_parameters"]["label_names"]
    stoi, unk = encoder.vocab.stoi, encoder.vocab.unk_index
    lines = 1
    for sentence, p in zip(sentences, predictions):
        words = [row.split()[0] for row in sentence.strip().split("\n")]
        assert p["line"] == lines and p["tokens"] == words
        lines += len(words) + 1
        with torch.no_grad():
            expected = model(torch.tensor([[stoi.get(w, unk) for w in words]]))[0][0].argmax(-1)
        assert p["tags"] == [names[i] for i in expected]
        assert [(s["type"], s["start"], s["end"] - 1) for s in p["spans"]] == get_entities(p["tags"])


# ------------------------------------------------------------------------------ regressor
def test_regressor_predicts_series_from_an_npz_and_its_mse_is_evals(tmp_path):
    ckpt = trained("adding_lstm", tmp_path / "train")
    stored = load_checkpoint(ckpt)[CHECKPOINT_KEY]["config"]
    inputs, lengths, targets = instantiate(stored["data"]["task"]).generate("test")  # the split eval reads
    np.savez(tmp_path / "test.npz", inputs=inputs, lengths=lengths)
    run(
        [
            script("seqmodels-predict"),
            f"ckpt_path={ckpt}",
            "input_file=test.npz",
            "output_file=values.jsonl",
            "batch_size=5",
        ],
        tmp_path,
    )
    predictions = read_jsonl(tmp_path / "values.jsonl")
    assert [p["index"] for p in predictions] == list(range(len(inputs)))
    model, _, _ = load_model(ckpt)
    with torch.no_grad():
        direct = [float(model(torch.from_numpy(x)[None])[0][0, 0]) for x in inputs]
    assert [p["value"] for p in predictions] == pytest.approx(direct, abs=1e-5)
    overrides = [f"ckpt_path={ckpt}", "trainer.enable_progress_bar=false", "logger=csv"]
    eval_cfg = compose_config(overrides, tmp_path / "eval", config_name="eval")
    metrics = evaluate(eval_cfg)
    mse = float(np.mean((np.array([p["value"] for p in predictions]) - targets) ** 2))
    assert metrics["test/mse"] == pytest.approx(mse, rel=1e-4)
    assert json.loads((tmp_path / "eval" / "eval.json").read_text())["test/mse"] == metrics["test/mse"]
