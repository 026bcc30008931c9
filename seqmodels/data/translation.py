"""Parallel text for encoder-decoder models: corpora of sentence pairs and a Lightning DataModule (the
pair of text encoders, :class:`~seqmodels.data.translation_encoder.TranslationEncoder`, has its own module,
which checkpoints load without Lightning).

A batch is a :class:`TranslationBatch`::

    source          LongTensor (B, S) source ids padded with the source ``<pad>``
    source_lengths  LongTensor (B,), >= 1
    target          LongTensor (B, T) ``<bos> y_1 .. y_n <eos>`` padded with the target ``<pad>``
    target_lengths  LongTensor (B,), n + 2 (both markers counted)
    sources         list of B raw source sentences (for TensorBoard samples)
    references      list of B raw target sentences (BLEU is scored against these, never against
                    ids, so that ``<unk>`` in a reference cannot match ``<unk>`` in a hypothesis)

Teacher forcing feeds ``target[:, :-1]`` and predicts ``target[:, 1:]``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from .batching import split_loader
from .corpora.base import check_split, find_file, iter_lines, require_dir
from .encoder import TextEncoder, build_vocab
from .tokenizers import Tokenizer, tokenizer_from_dict
from .translation_encoder import TranslationEncoder
from .vocab import BOS, EOS, PAD, UNK, Vocab

MULTI30K_HOW = (
    "Multi30k task 1: put {train,val,test_2016_flickr}.{de,en}.gz from "
    "https://github.com/multi30k/dataset (data/task1/raw/) in this folder"
)


# ------------------------------------------------------------------------------ corpora
class SentencePairs(Protocol):
    """What a translation data module reads: the splits there are, and each split's sentence pairs."""

    @property
    def splits(self) -> Sequence[str]: ...

    def pairs(self, split: str) -> list[tuple[str, str]]: ...


class ParallelCorpus:
    """Sentence pairs from line-aligned files ``<path>/<prefix>.<language>`` (``.gz`` allowed).

    Args:
        path: the folder.
        files: split name (``train``, ``valid``, ``test``) -> file prefix, e.g. ``{"valid": "val"}``.
        source, target: the language suffixes, e.g. ``"de"`` and ``"en"``.
        encoding: text encoding of the files.
        name: shown in messages.
        how: how to get the files, appended to "not found" errors.

    ``pairs(split) -> [(source sentence, target sentence), ...]`` in file order (line ends removed).
    The two files of a split must have the same number of lines; otherwise ``ValueError`` names both
    files and their counts.
    """

    def __init__(
        self,
        path: str | Path,
        files: Mapping[str, str],
        source: str,
        target: str,
        encoding: str = "utf-8",
        name: str = "parallel",
        how: str | None = None,
    ) -> None:
        if not isinstance(files, Mapping) or "train" not in files:
            raise ValueError(f"files must map split names to file prefixes and include 'train', got {files!r}")
        for key, value in (("source", source), ("target", target)):
            if not isinstance(value, str) or not value:
                raise ValueError(f"{key} must be a language suffix such as 'de', got {value!r}")
        if source == target:
            raise ValueError(f"source and target must differ, got {source!r} for both")
        self.name = name
        self.how = how or f"expected files <prefix>.{source} and <prefix>.{target} for {dict(files)} in this folder"
        self.root = require_dir(path, name, self.how)
        self.files = {str(k): str(v) for k, v in files.items()}
        self.splits = tuple(self.files)
        self.source = source
        self.target = target
        self.encoding = encoding

    def path_of(self, split: str, language: str) -> Path:
        check_split(split, self.splits, self.name)
        prefix = self.files[split]
        return find_file(self.root, [f"{prefix}.{language}", f"{prefix}.{language}.gz"], self.name, self.how)

    def _lines(self, path: Path) -> list[str]:
        return [line.rstrip("\r\n") for _, line in iter_lines(path, self.encoding)]

    def pairs(self, split: str) -> list[tuple[str, str]]:
        source_path, target_path = self.path_of(split, self.source), self.path_of(split, self.target)
        sources, targets = self._lines(source_path), self._lines(target_path)
        if len(sources) != len(targets):
            raise ValueError(
                f"{self.name} {split}: {source_path} has {len(sources)} lines but {target_path} has {len(targets)}; "
                "line i of one must translate line i of the other"
            )
        return list(zip(sources, targets))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(root={str(self.root)!r}, {self.source}->{self.target})"


class Multi30k(ParallelCorpus):
    """Multi30k task 1 (Elliott et al. 2016): Flickr30k captions with German translations;
    29,000 train / 1,014 val / 1,000 test (test_2016_flickr) pairs.

    Args:
        path: the folder with ``{train,val,test_2016_flickr}.{de,en}.gz``.
        source, target: ``"de"`` and ``"en"`` (either way round).
    """

    LANGUAGES = ("de", "en")

    def __init__(self, path: str | Path, source: str = "de", target: str = "en") -> None:
        for key, value in (("source", source), ("target", target)):
            if value not in self.LANGUAGES:
                raise ValueError(f"{key} must be one of {list(self.LANGUAGES)} for Multi30k, got {value!r}")
        files = {"train": "train", "valid": "val", "test": "test_2016_flickr"}
        super().__init__(path, files, source, target, name="multi30k", how=MULTI30K_HOW)


# ------------------------------------------------------------------------------ encoders
def fit_encoder(
    tokenizer: Tokenizer, texts: Sequence[str], specials: Sequence[str], max_size: int | None, min_freq: int
) -> TextEncoder:
    """A :class:`TextEncoder` whose vocabulary is built from ``texts`` (an untrained BPE is trained on them first)."""
    tokenizer = tokenizer_from_dict(tokenizer.to_dict())  # a copy: training leaves the caller's alone
    if not tokenizer.is_trained:
        tokenizer.train(texts)
    counts = Counter(token for text in texts for token in tokenizer.tokenize(text))
    return TextEncoder(tokenizer, build_vocab(tokenizer, counts, specials, max_size, min_freq))


# ------------------------------------------------------------------------------ batches
class TranslationBatch(NamedTuple):
    """One batch of sentence pairs (see the module docstring)."""

    source: torch.Tensor
    source_lengths: torch.Tensor
    target: torch.Tensor
    target_lengths: torch.Tensor
    sources: list[str]
    references: list[str]


class PairDataset(Dataset):
    """``(source ids, target ids with <bos>/<eos>, source text, target text)`` items."""

    def __init__(self, sources: list[np.ndarray], targets: list[np.ndarray], texts: list[tuple[str, str]]) -> None:
        if not len(sources) == len(targets) == len(texts):
            raise ValueError(f"{len(sources)} sources, {len(targets)} targets and {len(texts)} texts")
        self.sources, self.targets, self.texts = sources, targets, texts

    def __len__(self) -> int:
        return len(self.sources)

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray, str, str]:
        return self.sources[i], self.targets[i], self.texts[i][0], self.texts[i][1]

    def lengths(self) -> list[int]:
        return [len(s) for s in self.sources]


class PairCollate:
    """Pad sources and targets of ``[(source, target, source text, target text), ...]`` into a :class:`TranslationBatch`."""

    def __init__(self, source_pad: int, target_pad: int) -> None:
        self.source_pad, self.target_pad = source_pad, target_pad

    @staticmethod
    def _pad(seqs: Sequence[np.ndarray], value: int) -> tuple[torch.Tensor, torch.Tensor]:
        lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
        out = torch.full((len(seqs), int(lengths.max())), value, dtype=torch.long)  # (B, L)
        for b, s in enumerate(seqs):
            out[b, : len(s)] = torch.from_numpy(np.asarray(s, dtype=np.int64))
        return out, lengths

    def __call__(self, batch: Sequence[tuple[np.ndarray, np.ndarray, str, str]]) -> TranslationBatch:
        if not batch:
            raise ValueError("cannot collate an empty batch")
        source, source_lengths = self._pad([item[0] for item in batch], self.source_pad)
        target, target_lengths = self._pad([item[1] for item in batch], self.target_pad)
        if int(source_lengths.min()) < 1:
            raise ValueError("every source sentence needs at least one token")
        return TranslationBatch(
            source, source_lengths, target, target_lengths, [i[2] for i in batch], [i[3] for i in batch]
        )


# ------------------------------------------------------------------------------ data module
class TranslationDataModule(L.LightningDataModule):
    """Batches of sentence pairs from a :class:`ParallelCorpus`.

    Args:
        corpus: e.g. :class:`Multi30k`.
        source_tokenizer, target_tokenizer: e.g. ``WordTokenizer(lowercase=True, pattern=...)`` or a
            ``BPETokenizer`` (trained on the training side when untrained).
        batch_size: pairs per training batch; ``eval_batch_size`` for validation/test (default the same).
        min_freq, max_vocab_size: vocabularies from the training sentences (specials counted in the
            size); rarer tokens become ``<unk>``.
        max_length: training pairs with a side longer than this many tokens are left out (None: keep
            all); validation and test pairs are always kept whole.
        bucket: batch pairs of similar source length together.
        pool_factor: bucketing pool size in batches.
        seed: seeds the shuffling.
        num_workers: DataLoader workers.
        encoder: a :class:`TranslationEncoder` (or its dict) to use instead of building one.

    After ``setup()``: ``encoder`` (:class:`TranslationEncoder`), ``vocab`` / ``vocab_size`` (source),
    ``num_classes`` (the target vocabulary size: the decoder classifies every step into one target
    token), ``datasets``, ``skipped`` (training pairs left out: an empty side, or longer than ``max_length``).
    """

    SOURCE_SPECIALS = (PAD, UNK)
    TARGET_SPECIALS = (PAD, UNK, BOS, EOS)

    def __init__(
        self,
        corpus: SentencePairs,
        source_tokenizer: Tokenizer | dict[str, Any] | None = None,
        target_tokenizer: Tokenizer | dict[str, Any] | None = None,
        batch_size: int = 64,
        eval_batch_size: int | None = None,
        min_freq: int = 1,
        max_vocab_size: int | None = None,
        max_length: int | None = None,
        bucket: bool = True,
        pool_factor: int = 50,
        seed: int = 0,
        num_workers: int = 0,
        encoder: TranslationEncoder | dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if not callable(getattr(corpus, "pairs", None)):
            raise ValueError(
                f"corpus must have pairs(split) -> [(source, target)] (a ParallelCorpus), got {type(corpus).__name__}"
            )
        if isinstance(encoder, dict):
            encoder = TranslationEncoder.from_dict(encoder)
        tokenizers = []
        for key, tok in (("source_tokenizer", source_tokenizer), ("target_tokenizer", target_tokenizer)):
            tok = tokenizer_from_dict(tok) if isinstance(tok, dict) else tok
            if tok is None and encoder is None:
                raise ValueError(f"{key} is required (e.g. WordTokenizer(lowercase=True)) unless an encoder is given")
            if tok is not None and not isinstance(tok, Tokenizer):
                raise ValueError(f"{key} must be a Tokenizer or its dict, got {type(tok).__name__}")
            tokenizers.append(tok)
        for name, value in [("batch_size", batch_size), ("eval_batch_size", eval_batch_size or batch_size)]:
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if max_length is not None and (
            isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1
        ):
            raise ValueError(f"max_length must be None or a positive integer, got {max_length!r}")
        self.corpus = corpus
        self.source_tokenizer, self.target_tokenizer = tokenizers
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.min_freq = min_freq
        self.max_vocab_size = max_vocab_size
        self.max_length = max_length
        self.bucket = bucket
        self.pool_factor = pool_factor
        self.seed = seed
        self.num_workers = num_workers
        self.given_encoder = encoder
        self.encoder: TranslationEncoder | None = None
        self.datasets: dict[str, PairDataset] = {}
        self.skipped = 0

    @property
    def vocab(self) -> Vocab | None:
        return None if self.encoder is None else self.encoder.vocab

    @property
    def vocab_size(self) -> int | None:
        return None if self.encoder is None else len(self.encoder.vocab)

    @property
    def num_classes(self) -> int | None:
        return None if self.encoder is None else len(self.encoder.target_vocab)

    def _fitted_encoder(self) -> TranslationEncoder:
        if self.encoder is None:
            raise ValueError("call setup() first: the encoder is built there")
        return self.encoder

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        splits = {split: self.corpus.pairs(split) for split in self.corpus.splits}
        if self.given_encoder is not None:
            self.encoder = self.given_encoder
        else:
            # without an encoder both tokenizers are required (checked in __init__)
            assert self.source_tokenizer is not None and self.target_tokenizer is not None
            train = splits["train"]
            source = fit_encoder(
                self.source_tokenizer, [s for s, _ in train], self.SOURCE_SPECIALS, self.max_vocab_size, self.min_freq
            )
            target = fit_encoder(
                self.target_tokenizer, [t for _, t in train], self.TARGET_SPECIALS, self.max_vocab_size, self.min_freq
            )
            self.encoder = TranslationEncoder(source, target)
        for split, pairs in splits.items():
            self.datasets[split] = self._encode(split, pairs)

    def _encode(self, split: str, pairs: list[tuple[str, str]]) -> PairDataset:
        encoder = self._fitted_encoder()
        source, target = encoder.source, encoder.target
        bos, eos = encoder.bos_index, encoder.eos_index
        s_stoi, s_unk = source.vocab.stoi, source.vocab.unk_index
        t_stoi, t_unk = target.vocab.stoi, target.vocab.unk_index
        sources, targets, texts = [], [], []
        for src_text, tgt_text in pairs:
            src = [s_stoi.get(t, s_unk) for t in source.tokenizer.tokenize(src_text)]
            tgt = [t_stoi.get(t, t_unk) for t in target.tokenizer.tokenize(tgt_text)]
            if split == "train" and (
                not src or not tgt or (self.max_length is not None and max(len(src), len(tgt)) > self.max_length)
            ):
                self.skipped += 1
                continue
            if None in src or None in tgt:
                raise ValueError("a token is not in the vocabulary and the vocabulary has no <unk>")
            sources.append(np.asarray(src or [s_unk if s_unk is not None else 0], dtype=np.int32))
            targets.append(np.asarray([bos, *tgt, eos], dtype=np.int32))
            texts.append((src_text, tgt_text))
        return PairDataset(sources, targets, texts)

    def _loader(self, split: str, batch_size: int, train: bool) -> DataLoader:
        self.setup()
        return split_loader(
            self.datasets,
            split,
            repr(self.corpus),
            batch_size,
            PairCollate(self._fitted_encoder().vocab.pad_index or 0, self._fitted_encoder().pad_index),
            train=train,
            seed=self.seed,
            bucket=self.bucket,
            pool_factor=self.pool_factor,
            num_workers=self.num_workers,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", self.batch_size, train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("valid", self.eval_batch_size, train=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", self.eval_batch_size, train=False)


__all__ = [
    "ParallelCorpus",
    "Multi30k",
    "TranslationEncoder",
    "TranslationBatch",
    "PairDataset",
    "PairCollate",
    "TranslationDataModule",
    "fit_encoder",
]
