"""``python -m seqmodels.bench.token_cache`` at a tiny size: a corpus made from a small stand-in for the real texts,
every case run once in its own process; the medians and ranges of several runs on made-up figures. The figures it prints and writes are checked against each other and
against counts made here from the corpus files (characters; words plus one ``<eos>`` per line, as
``experiment=word_lm`` reads them); speed itself is never asserted."""

from __future__ import annotations

import json
from contextlib import redirect_stdout
from io import StringIO
from pathlib import Path

import pytest

from seqmodels.bench import token_cache as bench

SOURCE = "".join(
    f"First Citizen {k}:\nBefore we proceed any further, hear me speak {k * 7 % 13} words.\n\nAll: Speak, speak.\n"
    for k in range(300)
)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[dict, str, Path]:
    root = tmp_path_factory.mktemp("token_cache_bench")
    (root / "data" / "tinyshakespeare").mkdir(parents=True)
    (root / "data" / "tinyshakespeare" / "input.txt").write_text(SOURCE, encoding="utf-8")
    corpus = root / "corpus"
    bench.make_corpus(corpus, 0.25, root / "data", file_mb=0.1)
    out = root / "bench.json"
    printed = StringIO()
    args = ["--corpus", str(corpus), "--work-dir", str(root), "--repeat", "1", "--json", str(out)]
    with redirect_stdout(printed):
        bench.main(args)
    return json.loads(out.read_text(encoding="utf-8")), printed.getvalue(), corpus


def test_the_corpus_is_made_from_the_source_lines_in_files_of_the_size_asked(tmp_path) -> None:
    (tmp_path / "data" / "tinyshakespeare").mkdir(parents=True)
    (tmp_path / "data" / "tinyshakespeare" / "input.txt").write_text(SOURCE, encoding="utf-8")
    made = bench.make_corpus(tmp_path / "c", 0.3, tmp_path / "data", file_mb=0.1)
    files = sorted((tmp_path / "c").iterdir())
    assert made == sum(p.stat().st_size for p in files) and 0.29 * 2**20 < made <= 0.3 * 2**20
    assert len(files) == 3 and all(p.read_bytes().endswith(b"\n") for p in files)
    source_lines = set(SOURCE.splitlines())
    lines = [line for p in files for line in p.read_text(encoding="utf-8").splitlines()]
    swapped = [line for line in lines if line not in source_lines]
    assert 0 < len(swapped) < len(lines)  # some paragraphs have two vowels swapped, most do not
    with pytest.raises(FileNotFoundError, match="--data-dir"):
        bench.make_corpus(tmp_path / "d", 1, tmp_path / "nothing")


@pytest.mark.slow  # four Python processes, each importing torch and composing the experiment
def test_every_case_reports_its_tokens_time_and_memory(report) -> None:
    results, printed, corpus = report
    text = "".join(p.read_text(encoding="utf-8") for p in sorted(corpus.iterdir()))
    assert results["bytes"] == len(text.encode("utf-8")) == sum(p.stat().st_size for p in corpus.iterdir())
    runs = results["runs"]
    assert set(runs) == {"char", "word", "bpe", "hf_encode_batch"} and all(len(r) == 1 for r in runs.values())
    expected = {  # counted here, from the files
        "char": len(text),
        "word": sum(len(line.split()) + 1 for line in text.splitlines()),
    }
    for case, count in expected.items():
        for run in runs[case]:
            assert sum(run["tokens"].values()) == count, case
            assert set(run["tokens"]) == {"train", "valid", "test"}
    assert {run["vocab_size"] for run in runs["char"]} == {len(set(text)) + 2}  # <unk>, <eos> and each character
    (bpe_vocab,) = {run["vocab_size"] for run in runs["bpe"]}
    assert 2 + 256 < bpe_vocab <= 2 + 2000  # data/tokenizer=bpe: vocab_size 2000 (fewer merges on a tiny corpus)
    for case, case_runs in runs.items():
        for run in case_runs:
            assert run["wall_s"] > 0 and run["peak_rss_mb"] > 0, case
            if case != "hf_encode_batch":
                phases = run["phases_s"]
                assert {"tokenize_train", "tokenize_valid", "tokenize_test"} <= set(phases), case
                assert sum(phases.values()) <= run["wall_s"], case  # phases lie within the timed call
    assert "train_tokenizer" in runs["bpe"][0]["phases_s"] and "train_tokenizer" not in runs["char"][0]["phases_s"]
    assert all(run["bytes"] == results["bytes"] for run in runs["hf_encode_batch"])


@pytest.mark.slow
def test_the_printed_table_is_the_rows_of_the_runs(report) -> None:
    results, printed, _ = report
    assert results["rows"] == json.loads(json.dumps(bench.summarize(results["runs"], results["bytes"])))
    for row in results["rows"]:
        line = next(line for line in printed.splitlines() if line.startswith(row["case"]))
        assert f"{row['tokens']:,}" in line and f"{row['wall_s'][0]:.1f} (" in line
        if "vs_reference" in row:
            assert f" {row['vs_reference']:.2f} " in line and f" {row['encode_vs_reference']:.2f} " in line
    assert printed.count("run 1/1") == 4 and f"corpus: {results['bytes'] / 2**20:.1f} MB" in printed


def test_medians_ranges_and_ratios_of_several_runs() -> None:
    """Made-up runs of a 4 MiB corpus, figures worked out by hand."""

    def run(wall, rss, phases=None):
        return {
            "wall_s": wall,
            "peak_rss_mb": rss,
            "children_peak_rss_mb": rss / 2,
            "tokens": {"train": 9, "valid": 1},
            "phases_s": phases or {},
        }

    runs = {
        "bpe": [
            run(4.0, 500.0, {"train_tokenizer": 2.0, "tokenize_train": 1.5, "tokenize_valid": 0.5}),  # encode 2 s
            run(8.0, 700.0, {"train_tokenizer": 4.0, "tokenize_train": 3.0, "tokenize_valid": 1.0}),  # encode 4 s
            run(2.0, 600.0, {"train_tokenizer": 1.0, "tokenize_train": 0.5, "tokenize_valid": 0.5}),  # encode 1 s
        ],
        "word": [run(3.0, 400.0, {"tokenize_train": 0.5, "remap_train": 0.5, "tokenize_valid": 1.0})],
        "hf_encode_batch": [{**run(2.0, 300.0), "tokens": 11}, {**run(1.0, 300.0), "tokens": 11}],
    }
    bpe, word, hf = bench.summarize(runs, 4 * 2**20)
    assert word["encode_mb_per_s"] == (2.0, 2.0, 2.0)  # the remapping of provisional ids is part of encoding
    assert bpe["wall_s"] == (4.0, 2.0, 8.0) and bpe["mb_per_s"] == (1.0, 0.5, 2.0)
    assert bpe["peak_rss_mb"] == (600.0, 500.0, 700.0) and bpe["worker_peak_rss_mb"] == (300.0, 250.0, 350.0)
    assert bpe["tokens"] == 10
    assert bpe["encode_mb_per_s"] == (2.0, 1.0, 4.0)
    assert hf["mb_per_s"] == (3.0, 2.0, 4.0) and hf["tokens"] == 11 and "vs_reference" not in hf
    assert bpe["vs_reference"] == pytest.approx(1.0 / 3.0) and bpe["encode_vs_reference"] == pytest.approx(2.0 / 3.0)
    assert bpe["phases_s"] == {"train_tokenizer": 2.0, "tokenize_train": 1.5, "tokenize_valid": 0.5}


@pytest.mark.slow
def test_a_given_corpus_is_kept_and_the_work_folder_removed(report) -> None:
    _, _, corpus = report
    assert corpus.is_dir() and len(list(corpus.iterdir())) == 3  # --corpus: kept as it was
    assert not list(corpus.parent.glob("token-cache-bench-*"))  # its caches and work folder are gone
