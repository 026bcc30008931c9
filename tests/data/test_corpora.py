"""Corpora: the published statistics of the real files in ../shared/data, the embedded stdlib
corpus, both IMDB layouts, bad input (file:line errors) and checksum-verified downloads (file:// only)."""

from __future__ import annotations

import gzip
import hashlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from seqmodels.data import Vocab, WordTokenizer
from seqmodels.data.corpora import (
    IMDB,
    SST2,
    PennTreebank,
    PythonStdlibCorpus,
    Remote,
    TinyShakespeare,
    UEATimeSeries,
    WikiText,
)
from seqmodels.data.corpora.download import fetch, git_blob_sha1

# ---------------------------------------------------------------- published statistics (real files)


def test_ptb_statistics(data_dir: Path) -> None:
    ptb = PennTreebank(data_dir / "ptb")
    tok = WordTokenizer()
    train = tok.tokenize(ptb.read("train"))
    assert len(train) == 929_589
    vocab = Vocab.build(train, specials=("<unk>", "<eos>"))
    assert len(vocab) == 10_000
    assert vocab.itos[:2] == ["<unk>", "<eos>"]
    for split, n in [("valid", 73_760), ("test", 82_430)]:
        tokens = tok.tokenize(ptb.read(split))
        assert len(tokens) == n
        assert all(t in vocab for t in tokens)  # PTB valid/test words all occur in train
    assert Counter(train)["<eos>"] == 42_068  # one per line


def test_tinyshakespeare_statistics(data_dir: Path) -> None:
    ts = TinyShakespeare(data_dir / "tinyshakespeare")
    train, valid = ts.read("train"), ts.read("valid")
    assert len(train) + len(valid) == 1_115_394
    assert (len(train), len(valid)) == (1_003_854, 111_540)  # nanoGPT's 90/10
    assert len(set(train + valid)) == 65
    assert ts.read("test") == valid
    assert TinyShakespeare(data_dir / "tinyshakespeare" / "input.txt").read("valid") == valid


def test_sst2_statistics(data_dir: Path) -> None:
    glue = SST2(data_dir / "sst2", variant="glue")
    assert glue.splits == ("train", "valid")
    train, dev = glue.examples("train"), glue.examples("valid")
    assert (len(train), len(dev)) == (67_349, 872)
    assert Counter(label for _, label in train) == {0: 29_780, 1: 37_569}
    assert glue.label_names == ("negative", "positive")
    sentence = SST2(data_dir / "sst2" / "sentence", variant="sentence")
    assert [len(sentence.examples(s)) for s in sentence.splits] == [6_920, 872, 1_821]
    # the same 872 dev sentences (the sentence-level files keep the treebank escapes -lrb- -rrb- \/)
    unbracket = {"-lrb-": "(", "-rrb-": ")"}
    as_glue = sorted(
        " ".join(unbracket.get(w, w) for w in t.split()).replace("\\/", "/") for t, _ in sentence.examples("valid")
    )
    assert as_glue == sorted(t for t, _ in dev)
    assert Counter(label for _, label in sentence.examples("test")) == {0: 912, 1: 909}


def test_sst2_phrases_trains_on_glue_phrases_and_tests_on_sentences(data_dir: Path) -> None:
    phrases = SST2(data_dir / "sst2", variant="phrases")
    assert phrases.splits == ("train", "valid", "test")
    assert [len(phrases.examples(s)) for s in phrases.splits] == [67_349, 872, 1_821]
    glue = SST2(data_dir / "sst2", variant="glue")
    assert phrases.examples("train") == glue.examples("train")
    # the sentence-level dev file respelled as GLUE spells it is GLUE's dev set, sentence for sentence
    assert sorted(phrases.examples("valid")) == sorted(glue.examples("valid"))
    test = phrases.examples("test")
    assert Counter(label for _, label in test) == {0: 912, 1: 909}
    assert not any("-lrb-" in t or "-rrb-" in t or "\\/" in t for t, _ in test)
    assert sum("(" in t for t, _ in test) > 0
    # no test sentence is a training phrase, bar one
    seen = {t.strip() for t, _ in phrases.examples("train")}
    assert sum(t.strip() in seen for t, _ in test) == 1


def test_imdb_statistics(data_dir: Path) -> None:
    imdb = IMDB(data_dir / "imdb")
    for split in ("train", "test"):
        records = imdb.records(split)
        assert len(records) == 25_000
        assert Counter(label for *_, label in records) == {0: 12_500, 1: 12_500}
        assert all((r <= 4) if label == 0 else (r >= 7) for _, r, _, label in records)
    assert Counter(r for _, r, _, _ in imdb.records("train"))[10] == 4_732


def test_japanese_vowels_statistics(data_dir: Path) -> None:
    jv = UEATimeSeries(data_dir / "uea_ts", name="JapaneseVowels")
    train, test = jv.examples("train"), jv.examples("test")
    assert (len(train), len(test)) == (270, 370)
    assert jv.num_features == 12 and jv.num_classes == 9
    assert jv.label_names == tuple("123456789")
    assert all(x.dtype == np.float32 and x.ndim == 2 and x.shape[1] == 12 for x, _ in train + test)
    lengths = [x.shape[0] for x, _ in train + test]
    assert (min(lengths), max(lengths)) == (7, 29)
    assert Counter(label for _, label in train) == {i: 30 for i in range(9)}
    assert [Counter(label for _, label in test)[i] for i in range(9)] == [31, 35, 88, 44, 29, 24, 40, 50, 29]
    first = train[0][0]
    assert first[0, 0] == pytest.approx(1.860936) and first[0, 1] == pytest.approx(-0.207383)


def test_wikitext2_valid_test_and_missing_train(data_dir: Path) -> None:
    wt = WikiText(data_dir / "wikitext-2")
    assert len(wt.read("valid").split()) == 217_646
    assert len(wt.read("test").split()) == 245_569
    with pytest.raises(FileNotFoundError, match=r"wikitext-2 train: none of .*train\.txt.*download=True"):
        wt.read("train")


# ---------------------------------------------------------------- the embedded stdlib corpus


def test_stdlib_corpus_split_is_deterministic_and_close_to_90_5_5() -> None:
    corpus = PythonStdlibCorpus()
    stats = corpus.stats()
    files = {s: corpus.files(s) for s in ("train", "valid", "test")}
    everything = [p for fs in files.values() for p in fs]
    assert len(everything) == len(set(everything)) == corpus.file_count >= 50
    assert sorted(everything) == sorted(p for p in corpus.root.glob("*.py") if p.is_file())
    total = corpus.char_count
    assert total > 1_000_000
    assert total == sum(v["chars"] for v in stats.values())
    for split, target in [("train", 0.90), ("valid", 0.05), ("test", 0.05)]:
        assert abs(stats[split]["chars"] / total - target) < 0.02, (split, stats)
        assert stats[split]["files"] == len(files[split])
    again = PythonStdlibCorpus()
    assert {s: again.files(s) for s in files} == files
    assert again.fingerprint() == corpus.fingerprint()
    valid = corpus.read("valid")
    assert len(valid) == stats["valid"]["chars"]
    assert valid.startswith(files["valid"][0].read_text(encoding="utf-8"))


def test_stdlib_corpus_on_a_folder(tmp_path: Path) -> None:
    for i in range(40):
        (tmp_path / f"m{i:02d}.py").write_text(f"x = {i}\n" * (i + 1), encoding="utf-8")
    (tmp_path / "notes.txt").write_text("ignored", encoding="utf-8")
    corpus = PythonStdlibCorpus(tmp_path, fractions=(0.5, 0.25, 0.25))
    assert corpus.file_count == 40
    assert sum(len(corpus.read(s)) for s in ("train", "valid", "test")) == corpus.char_count
    (tmp_path / "bad.py").write_bytes(b"ok = 1\nname = '\xff'\n")
    bad = PythonStdlibCorpus(tmp_path)
    split = next(s for s in ("train", "valid", "test") if tmp_path / "bad.py" in bad.files(s))
    with pytest.raises(ValueError, match=r"bad\.py:2: cannot decode .*encoding="):
        bad.read(split)
    with pytest.raises(ValueError, match="fractions"):
        PythonStdlibCorpus(tmp_path, fractions=(0.9, 0.1))
    with pytest.raises(ValueError, match="split 'dev' is not one of"):
        corpus.read("dev")


# ---------------------------------------------------------------- line corpora: formats and bad input


def _write_ptb(folder: Path, gz: bool) -> None:
    folder.mkdir()
    for split, text in [("train", " a b c \n b c \n"), ("valid", " a \n"), ("test", " c d \n")]:
        path = folder / f"ptb.{split}.txt{'.gz' if gz else ''}"
        data = text.encode("utf-8")
        path.write_bytes(gzip.compress(data) if gz else data)


def test_wikitext_official_file_names(tmp_path: Path) -> None:
    for split in ("train", "valid", "test"):
        (tmp_path / f"wiki.{split}.tokens").write_text(f" = {split} = \n\n a @,@ b \n", encoding="utf-8")
    wt = WikiText(tmp_path, variant="wikitext-103")
    assert wt.name == "wikitext-103"
    assert wt.read("valid").split() == ["=", "valid", "=", "<eos>", "<eos>", "a", "@,@", "b", "<eos>"]
    with pytest.raises(ValueError, match="only available for wikitext-2"):
        WikiText(variant="wikitext-103", download=True)


@pytest.mark.parametrize("gz", [False, True])
def test_ptb_plain_and_gz(tmp_path: Path, gz: bool) -> None:
    _write_ptb(tmp_path / "ptb", gz)
    ptb = PennTreebank(tmp_path / "ptb")
    assert ptb.read("train") == " a b c  <eos>\n b c  <eos>\n"
    assert ptb.read("test").split() == ["c", "d", "<eos>"]


def test_missing_path_says_how_to_get_the_data(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nowhere not found.*simple-examples.*download=True"):
        PennTreebank(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="pass path=.*download=True"):
        TinyShakespeare()
    with pytest.raises(FileNotFoundError, match=r"input\.txt not found.*char-rnn"):
        TinyShakespeare(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"ptb\.train\.txt.*ptb\.train\.txt\.gz"):
        PennTreebank(tmp_path).read("train")
    with pytest.raises(FileNotFoundError, match=r"aclImdb.*ai\.stanford\.edu"):
        IMDB(tmp_path).examples("train")
    with pytest.raises(FileNotFoundError, match=r"JapaneseVowels_TRAIN\.ts"):
        UEATimeSeries(tmp_path).examples("train")


def test_empty_files_are_errors(tmp_path: Path) -> None:
    (tmp_path / "ptb.train.txt").write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match=r"ptb\.train\.txt is empty"):
        PennTreebank(tmp_path).read("train")
    (tmp_path / "ptb.valid.txt.gz").write_bytes(gzip.compress(b""))
    with pytest.raises(ValueError, match=r"ptb\.valid\.txt\.gz is empty"):
        PennTreebank(tmp_path).read("valid")
    (tmp_path / "input.txt").write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match="is empty"):
        TinyShakespeare(tmp_path)
    (tmp_path / "dev.tsv").write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match="is empty"):
        SST2(tmp_path, variant="glue").examples("valid")


def test_undecodable_bytes_name_file_line_and_encoding(tmp_path: Path) -> None:
    (tmp_path / "ptb.train.txt").write_bytes(b" fine line \n caf\xe9 \n")
    with pytest.raises(ValueError, match=r"ptb\.train\.txt:2: cannot decode byte\(s\) b'\\xe9' as 'utf-8'.*encoding="):
        PennTreebank(tmp_path).read("train")
    assert "café" in PennTreebank(tmp_path, encoding="latin-1").read("train")
    (tmp_path / "input.txt").write_bytes(b"line one\nline two\n\xff\n")
    with pytest.raises(ValueError, match=r"input\.txt:3: .*encoding="):
        TinyShakespeare(tmp_path).read("train")


def test_sst2_rows_that_do_not_parse(tmp_path: Path) -> None:
    (tmp_path / "train.tsv").write_text("sentence\tlabel\ngood film \t1\nbad\tfilm\t0\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"train\.tsv:3: expected 2 tab-separated columns"):
        SST2(tmp_path, variant="glue").examples("train")
    (tmp_path / "train.tsv").write_text("sentence\tlabel\ngood film \t1\nmeh\t2\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"train\.tsv:3: unknown label '2'"):
        SST2(tmp_path, variant="glue").examples("train")
    (tmp_path / "train.tsv").write_text("text\tlabel\ngood\t1\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"train\.tsv:1: expected the header"):
        SST2(tmp_path, variant="glue").examples("train")
    (tmp_path / "train.tsv").write_text("sentence\tlabel\ngood film \t1\n\n", encoding="utf-8")
    assert SST2(tmp_path, variant="glue").examples("train") == [("good film", 1)]
    (tmp_path / "stsa.binary.test").write_text("1 fine\npositive great\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"stsa\.binary\.test:2: unknown label 'positive'"):
        SST2(tmp_path).examples("test")
    with pytest.raises(ValueError, match="variant"):
        SST2(tmp_path, variant="phrase")
    with pytest.raises(ValueError, match="split 'test' is not one of"):
        SST2(tmp_path, variant="glue").examples("test")


# ---------------------------------------------------------------- IMDB: both layouts


IMDB_ROWS = {
    "train": [(3, 8, "pos", "Great <br />film."), (12, 10, "pos", "Loved it"), (1, 2, "neg", "Awful. Truly awful")],
    "test": [(0, 7, "pos", "Fine"), (5, 1, "neg", "No")],
}


def _write_imdb_tsv(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for split, rows in IMDB_ROWS.items():
        lines = ["id\trating\tlabel\ttext"] + [f"{i}\t{r}\t{lab}\t{t}" for i, r, lab, t in rows]
        (folder / f"{split}.tsv.gz").write_bytes(gzip.compress(("\n".join(lines) + "\n").encode("utf-8")))


def _write_acl_imdb(folder: Path) -> None:
    for split, rows in IMDB_ROWS.items():
        for label in ("pos", "neg"):
            (folder / "aclImdb" / split / label).mkdir(parents=True)
        for i, r, label, text in rows:
            (folder / "aclImdb" / split / label / f"{i}_{r}.txt").write_text(text, encoding="utf-8")
    (folder / "aclImdb" / "train" / "unsup").mkdir()  # ignored, as in the real archive


def test_imdb_tsv_and_folder_layouts_agree(tmp_path: Path) -> None:
    _write_imdb_tsv(tmp_path / "tsv")
    _write_acl_imdb(tmp_path / "folders")
    tsv, folders = IMDB(tmp_path / "tsv"), IMDB(tmp_path / "folders")
    expected = [("Great <br />film.", 1), ("Loved it", 1), ("Awful. Truly awful", 0)]  # pos then neg, by id
    assert tsv.examples("train") == folders.examples("train") == expected
    assert tsv.records("test") == folders.records("test") == [(0, 7, "Fine", 1), (5, 1, "No", 0)]
    assert IMDB(tmp_path / "folders" / "aclImdb").examples("test") == [("Fine", 1), ("No", 0)]
    assert tsv.label_names == ("neg", "pos")


def test_imdb_bad_rows(tmp_path: Path) -> None:
    (tmp_path / "train.tsv").write_text("id\trating\tlabel\ttext\n1\t9\tpos\tgood\n2\t1\tneg\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"train\.tsv:3: expected 4 tab-separated columns"):
        IMDB(tmp_path).examples("train")
    (tmp_path / "train.tsv").write_text("id\trating\tlabel\ttext\n1\t9\tgood\tfine film\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"train\.tsv:2: unknown label 'good'"):
        IMDB(tmp_path).examples("train")
    (tmp_path / "train.tsv").write_text("id\trating\tlabel\ttext\nx\t9\tpos\tfine film\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"train\.tsv:2: id and rating must be integers"):
        IMDB(tmp_path).examples("train")
    bad = tmp_path / "acl" / "aclImdb" / "test"
    (bad / "pos").mkdir(parents=True)
    (bad / "neg").mkdir()
    (bad / "neg" / "review.txt").write_text("x", encoding="utf-8")
    with pytest.raises(ValueError, match=r"review\.txt: expected review files named <id>_<rating>\.txt"):
        IMDB(tmp_path / "acl").examples("test")


# ---------------------------------------------------------------- UEA .ts parsing


TS_HEADER = (
    "# comment\n@problemName Toy\n@timeStamps false\n@dimensions 2\n@equalLength false\n@classLabel true a b\n@data\n"
)


def test_ts_parsing_variable_length_and_missing(tmp_path: Path) -> None:
    (tmp_path / "Toy_TRAIN.ts").write_text(TS_HEADER + "1,2,3:4,5,6:b\n0.5,?:1e-3,2:a\n", encoding="utf-8")
    (tmp_path / "Toy_TEST.ts").write_text(TS_HEADER + "7:8:a\n", encoding="utf-8")
    toy = UEATimeSeries(tmp_path, name="Toy")
    (x0, y0), (x1, y1) = toy.examples("train")
    np.testing.assert_array_equal(x0, np.array([[1, 4], [2, 5], [3, 6]], dtype=np.float32))
    assert (y0, y1) == (1, 0) and x1.shape == (2, 2) and np.isnan(x1[1, 0])
    assert toy.label_names == ("a", "b") and toy.examples("test")[0][0].shape == (1, 2)


@pytest.mark.parametrize(
    "row, match",
    [
        ("1,2:3,4:c\n", r"Toy_TRAIN\.ts:8: unknown label 'c'"),
        ("1,2:a\n", r"Toy_TRAIN\.ts:8: expected 2 dimensions"),
        ("1,2:3:a\n", r"Toy_TRAIN\.ts:8: dimensions have different lengths"),
        ("1,x:3,4:a\n", r"Toy_TRAIN\.ts:8: 'x' is not a number"),
    ],
)
def test_ts_bad_rows(tmp_path: Path, row: str, match: str) -> None:
    (tmp_path / "Toy_TRAIN.ts").write_text(TS_HEADER + row, encoding="utf-8")
    with pytest.raises(ValueError, match=match):
        UEATimeSeries(tmp_path, name="Toy").examples("train")


# ---------------------------------------------------------------- downloads (file:// only; never the network)


def test_fetch_verifies_sha256_and_git_blob(tmp_path: Path) -> None:
    src = tmp_path / "src.txt"
    src.write_bytes(b"hello corpus\n")
    sha = hashlib.sha256(b"hello corpus\n").hexdigest()
    blob = hashlib.sha1(b"blob 13\0hello corpus\n").hexdigest()
    assert git_blob_sha1(src) == blob
    dest = fetch(Remote(src.as_uri(), "data.txt", sha256=sha, git_blob_sha1=blob), tmp_path / "cache")
    assert dest.read_bytes() == b"hello corpus\n"
    with pytest.raises(ValueError, match="sha256 .* does not match"):
        fetch(Remote(src.as_uri(), "other.txt", sha256="0" * 64), tmp_path / "cache")
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["data.txt"]  # nothing half-written
    with pytest.raises(ValueError, match="needs sha256 or git_blob_sha1"):
        Remote(src.as_uri(), "x.txt")


def test_corpus_download_uses_the_cache_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "input.txt"
    src.write_text("To be, or not to be\n" * 10, encoding="utf-8")
    remote = Remote(src.as_uri(), "input.txt", sha256=hashlib.sha256(src.read_bytes()).hexdigest())
    monkeypatch.setattr(TinyShakespeare, "REMOTES", [remote])
    ts = TinyShakespeare(download=True, cache_dir=tmp_path / "cache")
    assert ts.file == tmp_path / "cache" / "downloads" / "tinyshakespeare" / "input.txt"
    assert ts.read("train") + ts.read("valid") == src.read_text(encoding="utf-8")
