"""Parallel text: corpora (line counts, named errors, the real Multi30k), the source/target encoder pair
(JSON round trip, checkpoints), the data module (vocabularies from train, <bos>/<eos>, raw references)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
import torch

from seqmodels.checkpoints import encoder_from_dict
from seqmodels.data import (
    Multi30k,
    ParallelCorpus,
    TextEncoder,
    TranslationDataModule,
    TranslationEncoder,
    Vocab,
    WordTokenizer,
)
from seqmodels.data.translation import PairCollate, fit_encoder
from seqmodels.tasks.translation import corpus_bleu

PATTERN = r"\w+(?:[-']\w+)*|[^\w\s]"  # the Multi30k configs' word pattern


def write(path: Path, lines: list[str]) -> Path:
    text = "".join(line + "\n" for line in lines)
    if path.suffix == ".gz":
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def tiny_corpus(root: Path) -> ParallelCorpus:
    write(root / "train.de.gz", ["ein Hund läuft .", "zwei Hunde laufen .", "", "ein Mann"])
    write(root / "train.en.gz", ["a dog runs.", "two dogs run.", "nothing", "a man"])
    write(root / "dev.de", ["ein Vogel ."])
    write(root / "dev.en", ["A bird."])
    return ParallelCorpus(root, {"train": "train", "valid": "dev"}, "de", "en")


# ------------------------------------------------------------------------------ corpora
def test_pairs_follow_the_files_line_by_line(tmp_path):
    corpus = tiny_corpus(tmp_path)
    assert corpus.pairs("valid") == [("ein Vogel .", "A bird.")]
    assert corpus.pairs("train")[1] == ("zwei Hunde laufen .", "two dogs run.")


def test_corpus_errors_name_the_files(tmp_path):
    tiny_corpus(tmp_path)
    write(tmp_path / "bad.de", ["a", "b"])
    write(tmp_path / "bad.en", ["a"])
    corpus = ParallelCorpus(tmp_path, {"train": "bad"}, "de", "en")
    with pytest.raises(ValueError, match=r"bad\.de has 2 lines but .*bad\.en has 1"):
        corpus.pairs("train")
    with pytest.raises(FileNotFoundError, match=r"multi30k.*test_2016_flickr\.de.*github\.com/multi30k"):
        Multi30k(tmp_path).pairs("test")
    with pytest.raises(ValueError, match="target must be one of \\['de', 'en'\\] for Multi30k, got 'fr'"):
        Multi30k(tmp_path, target="fr")
    with pytest.raises(ValueError, match="source and target must differ"):
        ParallelCorpus(tmp_path, {"train": "train"}, "de", "de")


def test_multi30k_matches_its_published_statistics(data_dir):
    corpus = Multi30k(data_dir / "multi30k")
    sizes = {split: len(corpus.pairs(split)) for split in ("train", "valid", "test")}
    assert sizes == {"train": 29000, "valid": 1014, "test": 1000}
    assert corpus.pairs("train")[0] == (
        "Zwei junge weiße Männer sind im Freien in der Nähe vieler Büsche.",
        "Two young, White males are outside near many bushes.",
    )
    english = Multi30k(data_dir / "multi30k", source="en", target="de").pairs("test")
    assert english[0][1] == corpus.pairs("test")[0][0]


def test_word_pattern_keeps_bleu_tokenization_intact(data_dir):
    """Words joined by spaces are what the model writes; 13a must read them as it reads the raw text."""
    references = [t for _, t in Multi30k(data_dir / "multi30k").pairs("test")]
    tokenizer = WordTokenizer(lowercase=True, pattern=PATTERN)
    joined = [tokenizer.detokenize(tokenizer.tokenize(r)) for r in references]
    assert corpus_bleu(joined, references, lowercase=True) > 99.9
    naive = WordTokenizer(lowercase=True, pattern=r"\w+|[^\w\s]")  # splits t-shirt and man's
    assert corpus_bleu([naive.detokenize(naive.tokenize(r)) for r in references], references, lowercase=True) < 98.5


# ------------------------------------------------------------------------------ encoders
def test_translation_encoder_round_trips_and_decodes_to_eos():
    tokenizer = WordTokenizer(lowercase=True)
    source = fit_encoder(tokenizer, ["ein hund", "ein mann"], ["<pad>", "<unk>"], None, 1)
    target = fit_encoder(tokenizer, ["a dog", "a man"], ["<pad>", "<unk>", "<bos>", "<eos>"], None, 1)
    encoder = TranslationEncoder(source, target)
    assert (
        encoder.bos_index == 2 and encoder.eos_index == 3 and encoder.pad_index == 0 and encoder.vocab is source.vocab
    )
    again = TranslationEncoder.from_dict(encoder.to_dict())
    assert again == encoder and encoder_from_dict(encoder.to_dict()) == encoder
    dog = target.vocab.stoi["dog"]
    assert encoder.decode([2, target.vocab.stoi["a"], dog, 3, dog, 0]) == "a dog"
    assert encoder.encode("ein katze") == [source.vocab.stoi["ein"], 1] and encoder.encode("") == [1]
    with pytest.raises(ValueError, match=r"the target vocabulary lacks \['<bos>', '<eos>'\]"):
        TranslationEncoder(source, source)
    with pytest.raises(ValueError, match="needs type='translation_encoder'"):
        TranslationEncoder.from_dict(source.to_dict())
    assert isinstance(encoder_from_dict(source.to_dict()), TextEncoder)


# ------------------------------------------------------------------------------ data module
def test_data_module_builds_from_train_and_serves_batches(tmp_path):
    tokenizer = WordTokenizer(lowercase=True, pattern=PATTERN)
    dm = TranslationDataModule(tiny_corpus(tmp_path), tokenizer, tokenizer, batch_size=8, max_length=3, bucket=False)
    dm.setup("fit")
    # the empty German line and the 4-token pairs are left out of training (max_length=3)
    assert dm.skipped == 3 and len(dm.datasets["train"]) == 1 and len(dm.datasets["valid"]) == 1
    encoder = dm.encoder
    assert encoder.target_vocab.itos[:4] == ["<pad>", "<unk>", "<bos>", "<eos>"]
    assert "vogel" not in encoder.vocab and "bird" not in encoder.target_vocab  # vocabularies come from train only
    assert "dog" in encoder.target_vocab and "hund" in encoder.vocab  # built before max_length drops pairs
    assert dm.vocab_size == len(encoder.vocab) and dm.num_classes == len(encoder.target_vocab)
    batch = next(iter(dm.val_dataloader()))
    assert batch.sources == ["ein Vogel ."] and batch.references == ["A bird."]
    t_stoi = encoder.target_vocab.stoi
    assert batch.target[0].tolist() == [2, t_stoi["a"], 1, t_stoi["."], 3]  # <bos> a <unk> . <eos>
    assert batch.target_lengths.tolist() == [5]
    assert batch.source[0].tolist() == [encoder.vocab.stoi["ein"], 1, encoder.vocab.stoi["."]]
    with pytest.raises(ValueError, match="source_tokenizer is required"):
        TranslationDataModule(tiny_corpus(tmp_path))


def test_collate_pads_both_sides():
    batch = PairCollate(0, 5)([([7, 8, 9], [2, 4, 3], "s1", "r1"), ([7], [2, 3], "s2", "r2")])
    assert batch.source.tolist() == [[7, 8, 9], [7, 0, 0]] and batch.source_lengths.tolist() == [3, 1]
    assert batch.target.tolist() == [[2, 4, 3], [2, 3, 5]] and batch.target_lengths.tolist() == [3, 2]
    assert batch.references == ["r1", "r2"] and batch.source.dtype == torch.long


def test_given_encoder_is_reused(tmp_path):
    tokenizer = WordTokenizer()
    first = TranslationDataModule(tiny_corpus(tmp_path), tokenizer, tokenizer)
    first.setup()
    second = TranslationDataModule(tiny_corpus(tmp_path), encoder=first.encoder.to_dict())
    second.setup()
    assert second.encoder == first.encoder
    assert isinstance(second.encoder.source.vocab, Vocab)
