"""seqmodels.load(...).predict: each kind's fields against the network run directly on one input at a time,
the input files read lazily and exactly, and clear refusals. Checkpoints are written by hand (no training)."""

from __future__ import annotations

import itertools
import json
import math
import warnings

import numpy as np
import pytest
import torch
from seqeval.metrics.sequence_labeling import get_entities

import seqmodels
from seqmodels.inference.inputs import count_examples, read_examples
from tests.helpers.handmade_checkpoints import LSTM, WORDS, classifier_config, word_encoder, write_checkpoint

SENTENCES = ["A fine film .", "the plot", "dull dull dull , the cast shines", "unknown words only", "film"]
LABELS = ["neg", "pos", "mixed"]


def ids_by_hand(text: str, lowercase: bool = True) -> list[int]:
    """Word ids as training computes them, written out: split on whitespace, lower-case, unknown -> <unk> (1)."""
    stoi = {w: i for i, w in enumerate(WORDS)}
    return [stoi.get(w.lower() if lowercase else w, 1) for w in text.split()] or [1]


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "classifier.ckpt"
    model = write_checkpoint(
        path, "classifier", classifier_config(), word_encoder(), {"num_classes": 3, "label_names": LABELS}
    )
    return path, model


# ------------------------------------------------------------------------------ classifier
def test_classifier_gives_the_label_string_and_the_softmax_of_the_network(classifier):
    path, model = classifier
    results = seqmodels.load(path).predict(SENTENCES, batch_size=2)  # padded batches of different lengths
    assert len(results) == len(SENTENCES)
    for text, result in zip(SENTENCES, results):
        with torch.no_grad():
            logits = model(torch.tensor([ids_by_hand(text)]))[0][0].double()  # the sentence alone, no padding
        probs = torch.softmax(logits, -1)
        assert result["label"] == LABELS[int(probs.argmax())]
        assert list(result["probabilities"]) == [LABELS[i] for i in probs.argsort(descending=True)]
        for name, p in result["probabilities"].items():
            assert p == pytest.approx(float(probs[LABELS.index(name)]), abs=1e-6)
        assert math.fsum(result["probabilities"].values()) == pytest.approx(1.0, abs=1e-9)
        json.dumps(result)  # plain data


def test_top_k_lists_the_most_likely_classes(classifier):
    predictor = seqmodels.load(classifier[0])
    full = predictor.predict(SENTENCES)
    top1 = predictor.predict(SENTENCES, top_k=1)
    for a, b in zip(full, top1):
        assert list(b["probabilities"]) == [a["label"]] and b["label"] == a["label"]
    with pytest.raises(ValueError, match="top_k must be a positive integer, got 0"):
        predictor.predict(SENTENCES, top_k=0)


def test_a_checkpoint_without_label_names_falls_back_to_indices_and_says_so(tmp_path):
    path = tmp_path / "nolabels.ckpt"
    write_checkpoint(path, "classifier", classifier_config(), word_encoder(), {"num_classes": 3})
    with pytest.warns(UserWarning, match="stores no label names.*indices '0'..'2'"):
        predictor = seqmodels.load(path)
    result = predictor.predict(["a fine film"])[0]
    assert result["label"] in {"0", "1", "2"} and set(result["probabilities"]) == {"0", "1", "2"}


def test_an_empty_text_is_read_as_training_reads_it(classifier):
    """Training turns an empty text into one <unk>; so does prediction."""
    path, model = classifier
    result = seqmodels.load(path).predict([""])[0]
    with torch.no_grad():
        probs = torch.softmax(model(torch.tensor([[1]]))[0][0].double(), -1)
    assert result["probabilities"][LABELS[int(probs.argmax())]] == pytest.approx(float(probs.max()), abs=1e-6)


def test_max_length_of_the_data_cuts_inputs_as_training_did(tmp_path):
    path = tmp_path / "short.ckpt"
    model = write_checkpoint(
        path,
        "classifier",
        classifier_config(),
        word_encoder(),
        {"num_classes": 3, "label_names": LABELS},
        data={"max_length": 2},
    )
    result = seqmodels.load(path).predict(["the cast shines"])[0]
    with torch.no_grad():
        probs = torch.softmax(model(torch.tensor([ids_by_hand("the cast")]))[0][0].double(), -1)
    assert result["probabilities"][result["label"]] == pytest.approx(float(probs.max()), abs=1e-6)


def test_predict_reads_its_examples_lazily(classifier):
    """A stream without end: the first batch comes back after reading only that batch (bounded memory)."""
    predictor = seqmodels.load(classifier[0])
    from seqmodels.inference.inputs import Example

    endless = (Example(SENTENCES[i % len(SENTENCES)], f"stream[{i}]", {}) for i in itertools.count())
    first = next(predictor.predict_examples(endless, batch_size=4))
    assert len(first) == 4


# ------------------------------------------------------------------------------ tagger
CHUNKS = ["O", "B-NP", "I-NP", "B-VP", "I-VP"]


@pytest.fixture(scope="module")
def tagger(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "tagger.ckpt"
    config = {
        "_target_": "seqmodels.models.RNNTagger",
        "num_classes": len(CHUNKS),
        "cell": LSTM,
        "vocab_size": len(WORDS),
        "padding_idx": 0,
        "embedding_dim": 8,
        "hidden_size": 6,
    }
    model = write_checkpoint(
        path,
        "tagger",
        config,
        word_encoder(lowercase=True),
        {"num_classes": len(CHUNKS), "label_names": CHUNKS, "span_f1": True},
        seed=3,
    )
    return path, model


def test_tagger_tags_every_token_and_reads_the_chunks_off_the_tags(tagger):
    path, model = tagger
    texts = ["The Cast shines", "a fine film . the plot", "Dull"]
    results = seqmodels.load(path).predict(texts)
    chunk_counts = 0
    for text, result in zip(texts, results):
        assert result["tokens"] == text.split()  # the input's own case, though the vocabulary is lower-case
        with torch.no_grad():
            expected = model(torch.tensor([ids_by_hand(text)]))[0][0].argmax(-1)
        assert result["tags"] == [CHUNKS[i] for i in expected]
        oracle = [(kind, start, end + 1) for kind, start, end in get_entities(result["tags"])]  # seqeval: end inclusive
        assert [(s["type"], s["start"], s["end"]) for s in result["spans"]] == oracle
        for s in result["spans"]:
            assert s["text"] == " ".join(result["tokens"][s["start"] : s["end"]])
        chunk_counts += len(oracle)
    assert chunk_counts > 0  # the check above compared some chunks


def test_tagger_reads_token_lists_and_conll_rows(tagger, tmp_path):
    predictor = seqmodels.load(tagger[0])
    as_text = predictor.predict(["a fine film"])[0]
    assert predictor.predict([["a", "fine", "film"]])[0] == as_text
    conll = tmp_path / "in.conll"
    conll.write_text("a DT B-NP\nfine JJ I-NP\nfilm NN I-NP\n\nDull JJ O\n", encoding="utf-8")
    examples = list(read_examples(conll))
    assert [e.position for e in examples] == [{"line": 1}, {"line": 5}]
    assert [r for b in predictor.predict_examples(examples) for r in b][0] == as_text


def test_tags_without_chunks_give_no_spans(tmp_path):
    path = tmp_path / "pos.ckpt"
    config = {
        "_target_": "seqmodels.models.RNNTagger",
        "num_classes": 3,
        "cell": LSTM,
        "vocab_size": len(WORDS),
        "padding_idx": 0,
        "embedding_dim": 8,
        "hidden_size": 6,
    }
    write_checkpoint(path, "tagger", config, word_encoder(), {"num_classes": 3, "label_names": ["NN", "DT", "JJ"]})
    assert "spans" not in seqmodels.load(path).predict(["a film"])[0]


def test_a_tagger_with_feature_columns_needs_them(tmp_path):
    path = tmp_path / "features.ckpt"
    pos = ["<pad>", "<unk>", "DT", "NN", "JJ"]
    config = {
        "_target_": "seqmodels.models.RNNTagger",
        "num_classes": len(CHUNKS),
        "cell": LSTM,
        "vocab_size": len(WORDS),
        "padding_idx": 0,
        "embedding_dim": 8,
        "hidden_size": 6,
        "feature_vocab_sizes": [len(pos)],
        "feature_embedding_dim": 4,
    }

    def features_count(network):  # large feature embeddings: the tags depend on the POS column
        network.feature_embeddings[0].weight.data.mul_(30.0)

    model = write_checkpoint(
        path,
        "tagger",
        config,
        word_encoder(),
        {"num_classes": len(CHUNKS), "label_names": CHUNKS, "feature_vocabs": [pos]},
        data={"corpus": {"word_column": 0, "feature_columns": [1]}},
        prepare=features_count,
    )
    predictor = seqmodels.load(path)
    with pytest.raises(ValueError, match=r"inputs\[0\]: the model also reads feature column\(s\) \[1\].*format=conll"):
        predictor.predict(["a film"])
    rows = [("a", "DT", "B-NP"), ("a", "NN", "I-NP"), ("a", "JJ", "I-NP"), ("zzz", "XX", "O")]
    result = predictor.predict([rows])[0]
    with torch.no_grad():  # words a=2, zzz=<unk>; POS DT=2, NN=3, JJ=4, XX=<unk>
        expected = model(torch.tensor([[[2, 2], [2, 3], [2, 4], [1, 1]]]))[0][0].argmax(-1)
        without = model(torch.tensor([[[2, 1], [2, 1], [2, 1], [1, 1]]]))[0][0].argmax(-1)
    assert result["tags"] == [CHUNKS[i] for i in expected]
    assert not torch.equal(expected, without)  # so the check above sees whether the features were read
    with pytest.raises(ValueError, match=r"token 0 has the columns \['a'\], but the model reads columns \[0, 1\]"):
        predictor.predict([[("a",)]])


# ------------------------------------------------------------------------------ regressor on series
def regressor_config(outputs: int = 1) -> dict:
    return {
        "_target_": "seqmodels.models.RNNClassifier",
        "num_classes": outputs,
        "cell": LSTM,
        "input_size": 2,
        "hidden_size": 5,
    }


def test_regressor_values_standardised_as_in_training(tmp_path):
    path = tmp_path / "regressor.ckpt"
    mean, std = [0.5, 2.0], [0.25, 4.0]
    model = write_checkpoint(
        path,
        "regressor",
        regressor_config(),
        None,
        {},
        data={"normalize": True},
        input_normalization={"mean": mean, "std": std},
    )
    rng = np.random.default_rng(0)
    series = [rng.random((t, 2), dtype=np.float32) for t in (7, 1, 12)]
    results = seqmodels.load(path).predict(series)
    for x, result in zip(series, results):
        z = (x - np.array(mean, dtype=np.float32)) / np.array(std, dtype=np.float32)
        with torch.no_grad():
            expected = float(model(torch.from_numpy(z)[None])[0][0, 0])
        assert set(result) == {"value"} and result["value"] == pytest.approx(expected, abs=1e-6)


def test_several_outputs_are_values(tmp_path):
    path = tmp_path / "k.ckpt"
    write_checkpoint(path, "regressor", regressor_config(3))
    (result,) = seqmodels.load(path).predict(np.zeros((1, 4, 2), dtype=np.float32))
    assert set(result) == {"values"} and len(result["values"]) == 3


def test_series_problems_are_named(tmp_path):
    path = tmp_path / "r.ckpt"
    write_checkpoint(path, "regressor", regressor_config())
    predictor = seqmodels.load(path)
    with pytest.raises(ValueError, match=r"inputs\[0\]: a series must be \(T >= 1, F=2\), got shape \(4, 3\)"):
        predictor.predict([np.zeros((4, 3))])
    with pytest.raises(ValueError, match=r"inputs\[0\]: this model reads real-valued series \(T, 2\), not text"):
        predictor.predict(["a film"])
    stale = tmp_path / "stale.ckpt"  # normalised in training, but the statistics are not in the file
    write_checkpoint(stale, "regressor", regressor_config(), data={"normalize": True})
    with pytest.raises(ValueError, match="data.normalize=true.*does not store the training mean and std"):
        seqmodels.load(stale).predict([np.zeros((4, 2))])


# ------------------------------------------------------------------------------ generators
@pytest.fixture(scope="module")
def language_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "lm.ckpt"
    config = {
        "_target_": "seqmodels.models.RNNLanguageModel",
        "vocab_size": len(WORDS),
        "cell": LSTM,
        "embedding_dim": 8,
        "hidden_size": 8,
        "num_layers": 1,
    }
    write_checkpoint(path, "language_model", config, word_encoder())
    return path


def test_a_language_model_samples_and_scores_but_does_not_predict(language_model):
    predictor = seqmodels.load(language_model)
    assert predictor.kind == "language_model"
    with pytest.raises(ValueError, match="holds a language model.*seqmodels-sample.*seqmodels-score"):
        predictor.predict(["a film"])
    text = predictor.sample("the cast", max_new_tokens=5, seed=0)
    assert text.startswith("the cast") and len(text.split()) <= 7
    (row,) = predictor.score(["the cast shines"])
    assert row["num_tokens"] == 2 and row["log_prob"] < 0  # no <eos> boundary: the first token is context only
    with pytest.raises(ValueError, match="holds a language model, not a translator, which translate needs"):
        predictor.translate(["ein Film"])


def test_predict_refuses_a_single_string(classifier):
    with pytest.raises(ValueError, match=r"a single string: predict\(\['a film'\]\)"):
        seqmodels.load(classifier[0]).predict("a film")


def test_import_seqmodels_stays_light():
    """seqmodels.load imports the predictor when called: a bare import pulls in neither Lightning nor Hydra."""
    import subprocess
    import sys

    code = "import sys, seqmodels; print(any(m.split('.')[0] in ('lightning', 'hydra') for m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


# ------------------------------------------------------------------------------ input files
def test_text_lines_and_blank_lines(tmp_path):
    path = tmp_path / "in.txt"
    path.write_text("a fine film\n\n  \nthe plot\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"in\.txt:2: empty input.*skip_empty=true"):
        list(read_examples(path))
    examples = list(read_examples(path, skip_empty=True))
    assert [(e.value, e.position) for e in examples] == [("a fine film", {"line": 1}), ("the plot", {"line": 4})]
    assert count_examples(path, skip_empty=True) == 2 and count_examples(path) == 4


def test_csv_tsv_and_jsonl_columns(tmp_path):
    (tmp_path / "in.csv").write_text('id,text\n1,"a fine, funny film"\n2,dull\n', encoding="utf-8")
    assert [e.value for e in read_examples(tmp_path / "in.csv")] == ["a fine, funny film", "dull"]
    (tmp_path / "in.tsv").write_text('sentence\tlabel\n"fine" film\t1\n', encoding="utf-8")
    assert [e.value for e in read_examples(tmp_path / "in.tsv")] == ['"fine" film']  # tsv: quotes are text
    with pytest.raises(ValueError, match=r"in\.tsv:1: no column 'review' \(the columns are \['sentence', 'label'\]\)"):
        list(read_examples(tmp_path / "in.tsv", text_column="review"))
    (tmp_path / "in.jsonl").write_text('{"text": "good"}\n{"text": "bad"\n', encoding="utf-8")
    reader = read_examples(tmp_path / "in.jsonl")
    assert next(reader).value == "good"  # read before the broken line is reached
    with pytest.raises(ValueError, match=r"in\.jsonl:2: not a JSON object"):
        next(reader)


def test_arrays_stream_by_rows_and_lengths_cut_them(tmp_path):
    x = np.arange(5 * 4 * 2, dtype=np.float32).reshape(5, 4, 2)
    np.savez(tmp_path / "s.npz", inputs=x, lengths=np.array([4, 1, 2, 4, 3]))
    rows = list(read_examples(tmp_path / "s.npz"))
    assert [r.value.shape[0] for r in rows] == [4, 1, 2, 4, 3] and [r.position for r in rows][-1] == {"index": 4}
    assert all(np.array_equal(r.value, x[i, : len(r.value)]) for i, r in enumerate(rows))
    np.savez_compressed(tmp_path / "c.npz", x)  # one unnamed array
    assert all(np.array_equal(r.value, x[i]) for i, r in enumerate(read_examples(tmp_path / "c.npz")))
    np.savez(tmp_path / "train.npz", y=np.zeros(5), X=x[:, ::-1], ids=np.arange(5))  # a training file: series X
    assert all(np.array_equal(r.value, x[i, ::-1]) for i, r in enumerate(read_examples(tmp_path / "train.npz")))
    assert count_examples(tmp_path / "train.npz") == 5
    np.save(tmp_path / "s.npy", x)
    assert all(np.array_equal(r.value, x[i]) for i, r in enumerate(read_examples(tmp_path / "s.npy")))
    assert count_examples(tmp_path / "s.npz") == 5 == count_examples(tmp_path / "s.npy")
    np.savez(tmp_path / "bad.npz", inputs=x, lengths=np.array([4, 0, 2, 4, 3]))
    with pytest.raises(ValueError, match=r"bad\.npz\[lengths\]\[1\]: length 0 is outside \[1, T=4\]"):
        list(read_examples(tmp_path / "bad.npz"))
    np.save(tmp_path / "flat.npy", x[..., 0])
    with pytest.raises(ValueError, match=r"must be \(N, T, F\).*x\[\.\.\., None\]"):
        list(read_examples(tmp_path / "flat.npy"))


def test_ts_series_with_and_without_labels(tmp_path):
    text = "# c\n@dimensions 2\n@classLabel true x y\n@data\n1,2,3:4,5,6:x\n7:8:y\n"
    (tmp_path / "a.ts").write_text(text, encoding="utf-8")
    rows = list(read_examples(tmp_path / "a.ts"))
    assert np.array_equal(rows[0].value, [[1, 4], [2, 5], [3, 6]]) and rows[1].value.shape == (1, 2)
    assert [r.position for r in rows] == [{"line": 5}, {"line": 6}] and count_examples(tmp_path / "a.ts") == 2
    (tmp_path / "b.ts").write_text("@classLabel false\n@data\n1,2:3,oops\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"b\.ts:3: 'oops' is not a number"):
        list(read_examples(tmp_path / "b.ts"))


def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"input_file=.*nope\.txt: no such file"):
        read_examples(tmp_path / "nope.txt")
    with pytest.raises(ValueError, match="format must be one of"):
        read_examples(tmp_path / "x.txt", fmt="xml")


def test_no_warning_when_label_names_are_stored(classifier):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        seqmodels.load(classifier[0])
