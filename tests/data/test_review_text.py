"""IMDBReviewText: the training reviews' text for a language model, split by review, never the test reviews."""

from __future__ import annotations

import gzip

import pytest

from seqmodels.data import IMDBReviewText

HEADER = "id\trating\tlabel\ttext\n"


def write_imdb(root, train: list[str], test: list[str]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for split, texts in (("train", train), ("test", test)):
        rows = [f"{i}\t{9 if i % 2 else 2}\t{'pos' if i % 2 else 'neg'}\t{text}\n" for i, text in enumerate(texts)]
        with gzip.open(root / f"{split}.tsv.gz", "wt", encoding="utf-8") as f:
            f.write(HEADER + "".join(rows))


@pytest.fixture
def imdb(tmp_path):
    train = [f"train review number {i} was fine" for i in range(40)]
    write_imdb(tmp_path / "imdb", train, ["a test review nobody may read", "another test review"])
    return tmp_path / "imdb", train


def test_the_splits_hold_every_training_review_once_and_no_test_review(imdb):
    root, train = imdb
    corpus = IMDBReviewText(root, val_fraction=0.1, seed=7)
    lines = {split: corpus.read(split).splitlines() for split in ("train", "valid")}
    assert len(lines["valid"]) == 4 and len(lines["train"]) == 36  # round(40 * 0.1)
    assert sorted(lines["train"] + lines["valid"]) == sorted(f"{text} <eos>" for text in train)
    assert "test review" not in corpus.read("train") + corpus.read("valid")
    with pytest.raises(ValueError, match="test"):
        corpus.read("test")


def test_the_split_is_seeded(imdb):
    root, _ = imdb
    a, b = IMDBReviewText(root, seed=7, val_fraction=0.25), IMDBReviewText(root, seed=7, val_fraction=0.25)
    other = IMDBReviewText(root, seed=8, val_fraction=0.25)
    assert a.review_indices("valid") == b.review_indices("valid") != other.review_indices("valid")
    assert a.fingerprint() == b.fingerprint() != other.fingerprint()  # the token cache is keyed by the split too


@pytest.mark.parametrize("fraction", [0, 1, 1.5, True, "0.1"])
def test_a_bad_val_fraction_is_named(imdb, fraction):
    with pytest.raises(ValueError, match=r"val_fraction must be a number in \(0, 1\)"):
        IMDBReviewText(imdb[0], val_fraction=fraction)


def test_max_reviews_reads_a_seeded_subset_before_the_split(imdb):
    root, train = imdb
    small = IMDBReviewText(root, val_fraction=0.25, seed=7, max_reviews=8)
    kept = small.review_indices("train") + small.review_indices("valid")
    assert len(kept) == 8 and len(small.review_indices("valid")) == 2 and len(set(kept)) == 8
    assert small.fingerprint() != IMDBReviewText(root, val_fraction=0.25, seed=7).fingerprint()
    with pytest.raises(ValueError, match="max_reviews must be None or an integer >= 2, got 1"):
        IMDBReviewText(root, max_reviews=1)
