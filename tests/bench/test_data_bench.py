"""``python -m seqmodels.bench.data`` at a tiny size: a small corpus in Penn Treebank layout and a small
stand-in for the standard-library corpus. The figures it writes and prints are the ones it says, counted
from the data; speed itself is never asserted."""

from __future__ import annotations

import json

import numpy as np
import pytest

from seqmodels.bench import data as bench
from seqmodels.bench.memory import write_corpus
from seqmodels.data import CharTokenizer, LanguageModelingDataModule, PennTreebank, StringCorpus, WordTokenizer

pytestmark = pytest.mark.slow  # LSTM training steps at the sizes trained on each corpus: seconds


def small_code_corpus() -> StringCorpus:
    rng = np.random.default_rng(0)
    lines = [f"def f{i}(x):\n    return x * {int(k)} + {i}\n" for i, k in enumerate(rng.integers(0, 99, 600))]
    return StringCorpus("".join(lines[:500]), "".join(lines[500:550]), "".join(lines[550:]), name="code")


def test_every_figure_is_reported_and_consistent(tmp_path, monkeypatch, capsys):
    data_dir = tmp_path / "data"
    write_corpus(data_dir / "ptb", 3000, vocab=300)
    monkeypatch.setattr(bench, "PythonStdlibCorpus", small_code_corpus)
    out = tmp_path / "data.json"
    results = bench.main(["--data-dir", str(data_dir), "--repeat", "1", "--json", str(out)])
    printed = capsys.readouterr().out
    assert json.loads(out.read_text()) == json.loads(json.dumps(results))

    rows = {r["corpus"]: r for r in results["lm"]}
    assert list(rows) == ["ptb", "python_stdlib"]  # no tinyshakespeare/ here: skipped
    expected = {  # tokens and vocabulary counted independently of the benchmark
        "ptb": (PennTreebank(data_dir / "ptb"), WordTokenizer(), "WordTokenizer", 20, 35),
        "python_stdlib": (small_code_corpus(), CharTokenizer(), "CharTokenizer", 32, 128),
    }
    for name, (corpus, tokenizer, tokenizer_name, batch, bptt) in expected.items():
        r = rows[name]
        text = corpus.read("train")
        dm = LanguageModelingDataModule(corpus, tokenizer, cache_dir=tmp_path / "check" / name)
        dm.prepare_data()
        dm.setup("fit")
        assert (r["tokenizer"], r["train_chars"], r["vocab_size"]) == (tokenizer_name, len(text), dm.vocab_size)
        assert r["train_tokens"] == len(tokenizer.tokenize(text)) and (r["batch"], r["bptt"]) == (batch, bptt)
        for key in (
            "tokenize_tokens_per_s",
            "tokenize_chars_per_s",
            "prepare_cold_s",
            "prepare_warm_s",
            "iterate_contiguous_tokens_per_s",
            "iterate_windows_tokens_per_s",
            "train_tokens_per_s",
        ):
            assert np.isfinite(r[key]) and r[key] > 0, (name, key, r[key])
        assert r["tokenize_chars_per_s"] / r["tokenize_tokens_per_s"] == pytest.approx(len(text) / r["train_tokens"])
        slower = min(r["iterate_contiguous_tokens_per_s"], r["iterate_windows_tokens_per_s"])
        assert r["ratio"] == pytest.approx(slower / r["train_tokens_per_s"])
        assert any(line.startswith(name) and tokenizer_name in line for line in printed.splitlines()), printed
    assert rows["ptb"]["consumer"] == {"emb": 200, "hidden": 200, "layers": 2}

    (bpe,) = results["bpe"]
    assert bpe["corpus"] == "code" and bpe["vocab_size"] == 2000 and bpe["tokens"] > 0
    assert bpe["train_s"] > 0 and bpe["tokenize_chars_per_s"] > bpe["tokenize_tokens_per_s"] > 0
    assert "BPE code (vocab 2000)" in printed and "imdb" not in results
