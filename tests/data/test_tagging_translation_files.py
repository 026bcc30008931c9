"""ConllData and ParallelTextData (configs/data/conll.yaml, parallel_text.yaml): a user's column files and
line-aligned files named by path, written by the tests."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from seqmodels.data import WordTokenizer
from seqmodels.data.from_files import ConllData, ParallelTextData
from seqmodels.data.parallel_files import ParallelFiles

CONLL = "-DOCSTART-\tX\tO\n\nJohn\tNNP\tB-PER\nlives\tVBZ\tO\n\nin\tIN\tO\nBerlin\tNNP\tB-LOC\n\n"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_conll_files_by_path_with_separator_features_and_held_out_sentences(tmp_path: Path) -> None:
    train = write(tmp_path / "train.tsv", CONLL * 5)  # 10 sentences
    test = write(tmp_path / "test.tsv", "Mary\tNNP\tB-PER\nsings\tVBZ\tO\nin Paris\tNNP\tB-MISC\n")
    dm = ConllData(train, test=test, separator="\t", feature_columns=[1], val_fraction=0.2, batch_size=4)
    dm.setup()
    assert dm.corpus.splits == ("train", "test")
    assert (len(dm.datasets["train"]), len(dm.datasets["valid"]), len(dm.datasets["test"])) == (8, 2, 1)
    assert dm.corpus.sentences("test") == [(("Mary", "sings", "in Paris"), ("B-PER", "O", "B-MISC"))]
    assert dm.label_names[-1] == "B-MISC"  # a tag only the test file has: scored, never predicted
    assert dm.feature_vocab_sizes == [2 + 3]  # <pad>, <unk> and the train POS tags NNP, VBZ, IN
    inputs, lengths, tags = next(iter(dm.val_dataloader()))
    assert inputs.shape[-1] == 2 and lengths.tolist() == [2, 2]


def test_conll_bad_paths_and_columns(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"valid=.*nope\.txt: no such file"):
        ConllData(write(tmp_path / "t.txt", CONLL), valid=tmp_path / "nope.txt")
    dm = ConllData(write(tmp_path / "u.txt", CONLL), tag_column=5)
    with pytest.raises(ValueError, match=r"u\.txt:3: tag_column=5 is out of range for rows of 3 columns"):
        dm.setup()


def test_parallel_prefix_and_pair_forms_gz_and_a_held_out_validation_share(tmp_path: Path) -> None:
    src = [f"ein satz {i}" for i in range(20)]
    tgt = [f"a sentence {i}" for i in range(20)]
    write(tmp_path / "train.de", "\n".join(src) + "\n")
    with gzip.open(tmp_path / "train.en.gz", "wt", encoding="utf-8") as f:
        f.write("\n".join(tgt) + "\n")
    corpus = ParallelFiles(str(tmp_path / "train"), source="de", target="en", val_fraction=0.25, val_seed=1)
    assert corpus.splits == ("train", "valid")
    train, valid = corpus.pairs("train"), corpus.pairs("valid")
    assert len(valid) == 5 and len(train) == 15 and sorted(train + valid) == sorted(zip(src, tgt))
    assert valid == ParallelFiles(
        str(tmp_path / "train"), source="de", target="en", val_fraction=0.25, val_seed=1
    ).pairs("valid")
    write(tmp_path / "dev.de", "hallo\n")
    write(tmp_path / "dev.en", "hello\n")
    paired = ParallelFiles(
        str(tmp_path / "train"), valid=[str(tmp_path / "dev.de"), str(tmp_path / "dev.en")], source="de", target="en"
    )
    assert paired.pairs("valid") == [("hallo", "hello")] and len(paired.pairs("train")) == 20
    tok = WordTokenizer(lowercase=True)
    dm = ParallelTextData(
        str(tmp_path / "train"), source="de", target="en", source_tokenizer=tok, target_tokenizer=tok, batch_size=4
    )
    dm.setup()
    batch = next(iter(dm.val_dataloader()))
    assert batch.references == [t for _, t in dm.corpus.pairs("valid")] and batch.source.shape[0] == 1
    assert len(dm.datasets["valid"]) == 1 and len(dm.datasets["train"]) == 19  # 5 % of 20


def test_parallel_errors_name_the_split_and_files(tmp_path: Path) -> None:
    write(tmp_path / "a.de", "eins\nzwei\n")
    write(tmp_path / "a.en", "one\n")
    with pytest.raises(ValueError, match=r"train: .*a\.de has 2 lines but .*a\.en has 1"):
        ParallelFiles(str(tmp_path / "a"), source="de", target="en").pairs("train")
    with pytest.raises(FileNotFoundError, match=r"test=.*missing: neither .*missing\.de nor .*missing\.de\.gz exists"):
        ParallelFiles(str(tmp_path / "a"), test=str(tmp_path / "missing"), source="de", target="en")
    with pytest.raises(ValueError, match=r"valid must be a prefix .* or a pair \[source file, target file\]"):
        ParallelFiles(str(tmp_path / "a"), valid=["only-one"], source="de", target="en")
    with pytest.raises(ValueError, match=r"source and target must differ"):
        ParallelFiles(str(tmp_path / "a"), source="de", target="de")
