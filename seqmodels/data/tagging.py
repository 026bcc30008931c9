"""Sequence-tagging batches (one label per token): word ids, lengths, tag ids.

A batch is ``(inputs, lengths, tags)``:

    inputs   LongTensor (B, T) word ids padded with the vocabulary's ``<pad>``; with F feature
             columns (e.g. POS tags as input for chunking) (B, T, 1 + F): channel 0 the word ids,
             channel 1 + f the ids of feature f in its own vocabulary (padded with its ``<pad>``)
    lengths  LongTensor (B,), the sentence lengths (>= 1)
    tags     LongTensor (B, T) tag ids, padded with ``IGNORE_INDEX`` (-100, cross-entropy's default
             ``ignore_index``), so padding never enters the loss or the metrics

The word vocabulary comes from the training sentences; the tag inventory (``label_names``) lists
the training tags by decreasing frequency, then any tag that only the validation or test files use
(CoNLL-2000's ``I-LST`` occurs only in test): a model cannot predict those, but they are scored,
as misses, instead of failing the run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader

from .batching import SequenceDataset, split_loader
from .encoder import TextEncoder
from .tokenizers import WordTokenizer
from .vocab import PAD, UNK, Vocab

IGNORE_INDEX = -100
"""Tag id of padded positions (``torch.nn.functional.cross_entropy``'s default ``ignore_index``)."""


class TagCollate:
    """Collate ``[(word ids, tag ids), ...]`` into ``(inputs, lengths, tags)`` (see the module docstring).

    Args:
        pad_value: the word id padding ``inputs``, or one id per channel when the sentences are
            (T, 1 + F) arrays of word and feature ids.
        replace: with ``unk_index``, a boolean array over the vocabulary marking the words that may be
            replaced by ``<unk>`` (the training singletons), each occurrence with probability ``rate``;
            so ``<unk>``, which stands for every unseen word at test time, gets trained.
        unk_index: the ``<unk>`` id.
        rate: replacement probability.
        seed: seeds the replacement draws (one generator per collate object).
    """

    def __init__(
        self,
        pad_value: int | Sequence[int] = 0,
        replace: np.ndarray | None = None,
        unk_index: int | None = None,
        rate: float = 0.0,
        seed: int = 0,
    ) -> None:
        if rate and (replace is None or unk_index is None):
            raise ValueError("unknown-word replacement needs the replaceable words and an <unk> index")
        self.pad_value = pad_value
        self.replace, self.unk_index, self.rate = replace, unk_index, float(rate)
        self.rng = np.random.default_rng(seed)

    def __call__(
        self, batch: Sequence[tuple[np.ndarray, np.ndarray]]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if not batch:
            raise ValueError("cannot collate an empty batch")
        sizes = [len(words) for words, _ in batch]
        tag_sizes = [len(labels) for _, labels in batch]
        if sizes != tag_sizes:
            b = next(b for b, (n, m) in enumerate(zip(sizes, tag_sizes)) if n != m)
            raise ValueError(f"sentence {b} of the batch has {sizes[b]} words but {tag_sizes[b]} tags")
        if min(sizes) < 1:
            raise ValueError("sentences must have at least one token; got an empty one")
        lengths = np.array(sizes, dtype=np.int64)
        B, T = len(batch), max(sizes)
        # every sentence's tokens at once, in order, laid into the rows' first len_b places (row-major order
        # of the mask): a handful of numpy operations a batch rather than a few per sentence
        words = np.concatenate([w for w, _ in batch]).astype(np.int64, copy=False)  # (N,) or (N, 1 + F)
        labels = np.concatenate([t for _, t in batch]).astype(np.int64, copy=False)  # (N,)
        if self.rate:
            assert self.replace is not None and self.unk_index is not None  # required with a rate (__init__)
            ids = words if words.ndim == 1 else words[:, 0]  # only the words are replaced, not the features
            drop = self.replace[ids] & (self.rng.random(len(ids)) < self.rate)
            ids[drop] = self.unk_index
        real = np.arange(T) < lengths[:, None]  # (B, T)
        inputs = np.empty((B, T, *words.shape[1:]), dtype=np.int64)  # (B, T) or (B, T, 1 + F)
        inputs[...] = np.asarray(self.pad_value, dtype=np.int64)
        inputs[real] = words
        tags = np.full((B, T), IGNORE_INDEX, dtype=np.int64)  # (B, T)
        tags[real] = labels
        return torch.from_numpy(inputs), torch.from_numpy(lengths), torch.from_numpy(tags)


def tag_inventory(splits: dict[str, list[tuple[Sequence[str], Sequence[str]]]]) -> list[str]:
    """Train tags by decreasing count (ties by name), then tags seen only outside train, sorted."""
    counts = Counter(tag for _, tags in splits["train"] for tag in tags)
    names = sorted(counts, key=lambda t: (-counts[t], t))
    others = sorted(
        {tag for split, data in splits.items() if split != "train" for _, tags in data for tag in tags} - set(counts)
    )
    return names + others


class TaggingDataModule(L.LightningDataModule):
    """Tagging batches from a corpus with ``sentences(split) -> [(words, tags), ...]``.

    Args:
        corpus: e.g. :class:`~seqmodels.data.conll.CoNLL2000` or any
            :class:`~seqmodels.data.conll.ConllCorpus`.
        batch_size: sentences per training batch.
        eval_batch_size: sentences per validation/test batch (default ``batch_size``).
        val_fraction: share of the training sentences held out for validation when the corpus has
            no ``valid`` split.
        val_seed: seeds that held-out choice; kept apart from ``seed`` so that runs with different
            seeds are validated on the same sentences.
        seed: seeds the shuffling of the training batches.
        lowercase: lower-case the words before the vocabulary lookup.
        min_freq, max_vocab_size: word vocabulary from the training words (specials counted in the size);
            rarer words become ``<unk>``.
        specials: vocabulary specials (``<pad>`` first, so padding is id 0).
        bucket: batch sentences of similar length together (see
            :class:`~seqmodels.data.batching.BucketBatchSampler`).
        pool_factor: bucketing pool size in batches.
        num_workers: DataLoader workers.
        encoder: a :class:`TextEncoder` (or its dict) to use instead of building one (evaluation of
            a checkpoint).
        label_names: the tag inventory to use instead of building one; every tag of the data must be in it.
        feature_vocabs: with a corpus that has ``feature_columns``, one token list (``itos``) per
            column to use instead of building them (evaluation of a checkpoint, which stores them).
        unk_replace: in training batches, replace each occurrence of a word seen only once in the
            training data by ``<unk>`` with this probability (Lample et al. 2016 use 0.5), so that the
            ``<unk>`` embedding, which every unseen test word gets, is trained. 0 turns it off.

    After ``setup()``: ``encoder``, ``vocab``, ``vocab_size``, ``label_names``, ``num_classes``,
    ``feature_vocabs``/``feature_vocab_sizes`` (None without feature columns: with them, one
    vocabulary per column from the training sentences, ``<pad>`` and ``<unk>`` first, and batches
    carry (B, T, 1 + F) inputs),
    ``pad_index``, ``datasets`` (``train``, ``valid``, ``test`` when the corpus has it).
    """

    def __init__(
        self,
        corpus: Any,
        batch_size: int = 32,
        eval_batch_size: int | None = None,
        val_fraction: float = 0.1,
        val_seed: int = 0,
        seed: int = 0,
        lowercase: bool = False,
        min_freq: int = 1,
        max_vocab_size: int | None = None,
        specials: Sequence[str] = (PAD, UNK),
        bucket: bool = True,
        pool_factor: int = 50,
        num_workers: int = 0,
        encoder: TextEncoder | dict[str, Any] | None = None,
        label_names: Sequence[str] | None = None,
        unk_replace: float = 0.0,
        feature_vocabs: Sequence[Sequence[str]] | None = None,
    ) -> None:
        super().__init__()
        if not callable(getattr(corpus, "sentences", None)):
            raise ValueError(
                f"corpus must have sentences(split) -> [(words, tags)] (a ConllCorpus), got {type(corpus).__name__}"
            )
        for name, value in [("batch_size", batch_size), ("eval_batch_size", eval_batch_size or batch_size)]:
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if isinstance(val_fraction, bool) or not isinstance(val_fraction, (int, float)) or not 0 < val_fraction < 1:
            raise ValueError(f"val_fraction must be a number in (0, 1), got {val_fraction!r}")
        if not isinstance(lowercase, bool):
            raise ValueError(f"lowercase must be True or False, got {lowercase!r}")
        if isinstance(encoder, dict):
            encoder = TextEncoder.from_dict(encoder)
        if encoder is not None and not isinstance(encoder, TextEncoder):
            raise ValueError(f"encoder must be a TextEncoder, its dict or None, got {type(encoder).__name__}")
        if isinstance(unk_replace, bool) or not isinstance(unk_replace, (int, float)) or not 0.0 <= unk_replace <= 1.0:
            raise ValueError(f"unk_replace must be a probability in [0, 1], got {unk_replace!r}")
        if label_names is not None and (
            isinstance(label_names, str) or not all(isinstance(n, str) for n in label_names)
        ):
            raise ValueError(f"label_names must be a list of tag strings or None, got {label_names!r}")
        if feature_vocabs is not None and (
            isinstance(feature_vocabs, str)
            or not all(not isinstance(v, str) and all(isinstance(t, str) for t in v) for v in feature_vocabs)
        ):
            raise ValueError(
                f"feature_vocabs must be a list of token lists (one per feature column) or None, got {feature_vocabs!r}"
            )
        self.given_feature_vocabs = None if feature_vocabs is None else [list(v) for v in feature_vocabs]
        self.corpus = corpus
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.val_fraction = float(val_fraction)
        self.val_seed = val_seed
        self.seed = seed
        self.lowercase = lowercase
        self.min_freq = min_freq
        self.max_vocab_size = max_vocab_size
        self.specials = tuple(specials)
        self.bucket = bucket
        self.pool_factor = pool_factor
        self.num_workers = num_workers
        self.given_encoder = encoder
        self.given_labels = None if label_names is None else tuple(label_names)
        self.unk_replace = float(unk_replace)
        self.singletons: np.ndarray | None = None  # (V,) bool: words seen once in the training split
        self.encoder: TextEncoder | None = None
        self.vocab: Vocab | None = None
        self.label_names: tuple[str, ...] | None = None
        self.feature_vocabs: tuple[Vocab, ...] | None = None
        self.datasets: dict[str, SequenceDataset] = {}

    # ------------------------------------------------------------------ attributes
    @property
    def num_classes(self) -> int | None:
        return None if self.label_names is None else len(self.label_names)

    @property
    def feature_vocab_sizes(self) -> list[int] | None:
        return None if not self.feature_vocabs else [len(v) for v in self.feature_vocabs]

    @property
    def vocab_size(self) -> int | None:
        return None if self.vocab is None else len(self.vocab)

    @property
    def pad_index(self) -> int:
        if self.vocab is None:
            raise ValueError("call setup() first: the vocabulary is built there")
        if self.vocab.pad_index is None:
            raise ValueError(f"the vocabulary has no {PAD} token: add it to specials")
        return self.vocab.pad_index

    # ------------------------------------------------------------------ setup
    @property
    def _feature_columns(self) -> tuple[int, ...]:
        return tuple(getattr(self.corpus, "feature_columns", ()) or ())

    def _splits(self) -> tuple[dict[str, list[tuple[Sequence[str], Sequence[str]]]], dict[str, list[tuple]]]:
        """``(words, tags)`` per split and, with feature columns, the features of each sentence."""
        splits = {split: self.corpus.sentences(split) for split in self.corpus.splits}
        feats = {split: self.corpus.features(split) for split in self.corpus.splits} if self._feature_columns else {}
        if "valid" not in splits:
            train, train_feats = splits["train"], feats.get("train")
            order = np.random.default_rng(self.val_seed).permutation(len(train))
            held = set(order[: max(1, int(round(len(train) * self.val_fraction)))].tolist())
            for out, data in ((splits, train), (feats, train_feats)):
                if data is not None:
                    out["valid"] = [s for i, s in enumerate(data) if i in held]
                    out["train"] = [s for i, s in enumerate(data) if i not in held]
        return splits, feats

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        splits, feats = self._splits()
        tokenizer = WordTokenizer(lowercase=self.lowercase)
        if self.given_encoder is not None:
            self.encoder = self.given_encoder
        else:
            word_counts = Counter(w.lower() if self.lowercase else w for words, _ in splits["train"] for w in words)
            vocab = Vocab.build(word_counts, self.specials, self.max_vocab_size, self.min_freq)
            self.encoder = TextEncoder(tokenizer, vocab)
        self.vocab = self.encoder.vocab
        self.label_names = self.given_labels or tuple(tag_inventory(splits))
        tag_index = {tag: i for i, tag in enumerate(self.label_names)}
        unknown = sorted({t for data in splits.values() for _, tags in data for t in tags} - set(tag_index))
        if unknown:
            raise ValueError(
                f"{self.corpus!r}: tags {unknown[:10]} are not in label_names {list(self.label_names)[:10]}..."
            )
        _ = self.pad_index  # raises when the vocabulary has no <pad>
        if self.given_feature_vocabs is not None:
            if len(self.given_feature_vocabs) != len(self._feature_columns):
                raise ValueError(
                    f"feature_vocabs has {len(self.given_feature_vocabs)} vocabularies but the corpus has "
                    f"{len(self._feature_columns)} feature_columns {list(self._feature_columns)}"
                )
            self.feature_vocabs = tuple(
                Vocab(itos, [s for s in (PAD, UNK) if s in itos]) for itos in self.given_feature_vocabs
            )
        elif feats:  # one vocabulary per feature column, from the training sentences
            self.feature_vocabs = tuple(
                Vocab.build(Counter(v for f in feats["train"] for v in f[c]), (PAD, UNK))
                for c in range(len(self._feature_columns))
            )
        for split, data in splits.items():
            words = [
                np.asarray(self.vocab.encode(w.lower() if self.lowercase else w for w in ws), dtype=np.int32)
                for ws, _ in data
            ]
            tags = [np.asarray([tag_index[t] for t in ts], dtype=np.int32) for _, ts in data]
            if feats:
                assert self.feature_vocabs is not None  # given or built above whenever there are features
                words = [
                    np.stack(
                        [w, *(np.asarray(v.encode(f[c]), dtype=np.int32) for c, v in enumerate(self.feature_vocabs))],
                        axis=1,
                    )
                    for w, f in zip(words, feats[split])
                ]  # (T, 1 + F)
            self.datasets[split] = SequenceDataset(words, tags)
        train_ids = [ids if ids.ndim == 1 else ids[:, 0] for ids in self.datasets["train"].sequences]
        counts = (
            np.bincount(np.concatenate(train_ids), minlength=len(self.vocab))
            if train_ids
            else np.zeros(len(self.vocab), int)
        )
        self.singletons = counts == 1  # (V,)
        if self.unk_replace and self.vocab.unk_index is None:
            raise ValueError(f"unk_replace={self.unk_replace} needs <unk> in the vocabulary: add it to specials")

    # ------------------------------------------------------------------ loaders
    def _loader(self, split: str, batch_size: int, train: bool) -> DataLoader:
        self.setup()
        pad: int | list[int] = self.pad_index
        if self.feature_vocabs:
            feature_pads = []
            for column, v in zip(self._feature_columns, self.feature_vocabs):
                if v.pad_index is None:
                    raise ValueError(f"feature column {column}'s vocabulary has no {PAD}: add it to feature_vocabs")
                feature_pads.append(v.pad_index)
            pad = [self.pad_index, *feature_pads]
        collate = TagCollate(pad)
        if train and self.unk_replace:
            assert self.vocab is not None  # built by setup() above
            collate = TagCollate(pad, self.singletons, self.vocab.unk_index, self.unk_replace, self.seed)
        return split_loader(
            self.datasets,
            split,
            repr(self.corpus),
            batch_size,
            collate,
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


__all__ = ["IGNORE_INDEX", "TagCollate", "TaggingDataModule", "tag_inventory"]
