"""Sequence classification batches: padding collate, length bucketing, a held-out validation split.

A batch is ``(inputs, lengths, labels)``:

    inputs   LongTensor (B, T) of token ids padded with ``pad_index``, or FloatTensor (B, T, F)
             of real values padded with zeros; T = the longest sequence in the batch
    lengths  LongTensor (B,), the true lengths (>= 1)
    labels   LongTensor (B,) class indices (FloatTensor (B,) or (B, K) for regression targets)

Bucketing (``bucket=True``) groups sequences of similar length into a batch so little compute is
spent on padding (:class:`~seqmodels.data.batching.BucketBatchSampler`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import repeat
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader

from .batching import SequenceDataset, split_loader
from .corpora.base import ClassificationCorpus
from .encoder import TextEncoder, build_vocab
from .resumable import ResumableTrainData
from .token_ids import provisional_ids
from .tokenizers import Tokenizer, tokenizer_from_dict
from .vocab import PAD, UNK, Vocab


def held_out(labels: Sequence[Any], fraction: float, seed: int, stratify: bool = False) -> set[int]:
    """Indices of the examples held out of a train split for validation, drawn with ``seed``.

    Plain: the first ``n = max(1, round(N * fraction))`` indices of a seeded permutation.
    Stratified: class c of N_c examples gives ``floor(N_c * n / N)`` of them, but at least one when
    N_c >= 2 and never all (each class keeps a training example); while fewer than ``n`` are held
    out, the classes with the largest remainders ``N_c * n / N - floor(...)`` give one more (ties:
    the larger class first). Within a class the examples are drawn by a seeded permutation.
    """
    N = len(labels)
    n_val = max(1, int(round(N * fraction)))
    rng = np.random.default_rng(seed)
    if not stratify:
        return set(rng.permutation(N)[:n_val].tolist())
    classes: dict[Any, list[int]] = {}
    for i, y in enumerate(labels):
        classes.setdefault(y, []).append(i)
    keys = sorted(classes, key=lambda c: (-len(classes[c]), str(c)))
    quota = {c: len(classes[c]) * n_val / N for c in keys}
    take = {c: min(max(1, int(quota[c])), len(classes[c]) - 1) for c in keys}
    for c in sorted(keys, key=lambda c: -(quota[c] - int(quota[c]))):  # stable: ties keep the larger class first
        if sum(take.values()) >= n_val:
            break
        if take[c] < len(classes[c]) - 1:
            take[c] += 1
    held: set[int] = set()
    for c in keys:
        members = classes[c]
        held.update(members[j] for j in rng.permutation(len(members))[: take[c]].tolist())
    if not held:
        raise ValueError(
            f"cannot hold out a stratified validation share of {N} examples: no class has two (give a validation file)"
        )
    return held


class PadCollate:
    """Collate ``[(sequence, label), ...]`` into ``(inputs, lengths, labels)`` (see the module docstring).

    Args:
        pad_value: the id padding token sequences (real-valued sequences pad with 0.0).
    """

    def __init__(self, pad_value: int = 0) -> None:
        self.pad_value = pad_value

    def __call__(self, batch: Sequence[tuple[Any, Any]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if not batch:
            raise ValueError("cannot collate an empty batch")
        seqs = [np.asarray(s) for s, _ in batch]
        lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
        if int(lengths.min()) < 1:
            raise ValueError("sequences must have at least one step; got an empty one")
        T = int(lengths.max())
        first = seqs[0]
        if first.ndim == 1 and np.issubdtype(first.dtype, np.integer):
            inputs = torch.full((len(seqs), T), self.pad_value, dtype=torch.long)  # (B, T)
            for b, s in enumerate(seqs):
                inputs[b, : len(s)] = torch.from_numpy(s.astype(np.int64, copy=False))
        elif first.ndim == 2:
            F = first.shape[1]
            inputs = torch.zeros((len(seqs), T, F), dtype=torch.float32)  # (B, T, F)
            for b, s in enumerate(seqs):
                if s.ndim != 2 or s.shape[1] != F:
                    raise ValueError(f"real-valued sequences must all be (T, {F}), got {s.shape} at position {b}")
                inputs[b, : len(s)] = torch.from_numpy(s.astype(np.float32, copy=False))
        else:
            raise ValueError(
                f"sequences must be 1-D integer ids or 2-D (T, F) floats, got dtype {first.dtype} shape {first.shape}"
            )
        labels = [lab for _, lab in batch]
        if all(isinstance(lab, (int, np.integer)) and not isinstance(lab, bool) for lab in labels):
            targets = torch.tensor(labels, dtype=torch.long)
        else:
            targets = torch.as_tensor(np.asarray(labels, dtype=np.float32))
        return inputs, lengths, targets


class ClassificationDataModule(ResumableTrainData, L.LightningDataModule):
    """Classification batches from a corpus of texts or real-valued series.

    Args:
        corpus: a :class:`~seqmodels.data.corpora.base.ClassificationCorpus`.
        tokenizer: for text corpora (an untrained BPE is trained on the train texts); must be
            ``None`` for real-valued ones.
        batch_size: examples per training batch.
        max_length: longest sequence kept (None: no limit).
        truncate: with ``max_length``: ``True`` keeps the first ``max_length`` steps of longer
            sequences; ``False`` refuses them (``ValueError`` naming the split, the example and its
            length); ``"drop"`` drops longer *training* examples (validation and test examples are
            still truncated, so that every one of them is scored).
        bucket: batch sequences of similar length together.
        val_fraction: held out of train (seeded shuffle) when the corpus has no ``valid`` split.
        stratify: hold out the same share of every class (see :func:`held_out`) instead of a plain
            random share, so that a small or unbalanced set keeps every class on both sides.
        seed: seeds the held-out split and the shuffling.
        max_vocab_size, min_freq: vocabulary from the train split (specials included in the size).
        num_workers: DataLoader workers.
        specials: vocabulary specials (``<pad>`` first, so padding is id 0).
        encoder: a :class:`TextEncoder` (or its dict) to use instead of building one.
        normalize: real-valued inputs only: standardise every feature with the train mean and std
            (over every time step of the training series; a feature constant in train is only centred).
        eval_batch_size: batch size for validation and test (default ``batch_size``).
        pool_factor: bucketing pool size in batches.
        min_batches_per_epoch: every training epoch has at least this many batches: a train split of
            N < min_batches_per_epoch * batch_size examples is repeated k = ceil(that / N) times (each
            example k times per epoch, shuffled together), so that per-epoch settings (validation,
            early-stopping patience, learning-rate plateaus, max_epochs) mean as many optimizer steps
            on 40 series as on 100,000. None: one pass per epoch.
        train_examples: keep only this many training examples, after the validation share is held out: a
            seeded (``seed``), stratified draw (:func:`held_out`'s rule), for learning curves (accuracy against
            the labelled examples used). The vocabulary is built from the kept ones. None: all.

    After ``setup()``: ``num_classes``, ``label_names``, ``vocab``/``encoder`` (None for real-valued),
    ``vocab_size`` (None for real-valued), ``input_size`` (F for real-valued, else None), ``pad_index``.
    """

    def __init__(
        self,
        corpus: ClassificationCorpus,
        tokenizer: Tokenizer | dict[str, Any] | None = None,
        batch_size: int = 32,
        max_length: int | None = None,
        truncate: bool = True,
        bucket: bool = False,
        val_fraction: float = 0.1,
        seed: int = 0,
        max_vocab_size: int | None = None,
        min_freq: int = 1,
        num_workers: int = 0,
        specials: Sequence[str] = (PAD, UNK),
        encoder: TextEncoder | dict[str, Any] | None = None,
        normalize: bool = False,
        eval_batch_size: int | None = None,
        pool_factor: int = 50,
        stratify: bool = False,
        min_batches_per_epoch: int | None = None,
        train_examples: int | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(corpus, ClassificationCorpus):
            raise ValueError(
                f"corpus must be a ClassificationCorpus (examples(split), label_names), got {type(corpus).__name__}"
            )
        if isinstance(tokenizer, dict):
            tokenizer = tokenizer_from_dict(tokenizer)
        if isinstance(encoder, dict):
            encoder = TextEncoder.from_dict(encoder)
        for name, value in [("batch_size", batch_size), ("eval_batch_size", eval_batch_size or batch_size)]:
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if max_length is not None and (
            isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1
        ):
            raise ValueError(f"max_length must be None or a positive integer, got {max_length!r}")
        if truncate not in (True, False, "drop") or isinstance(truncate, int) and not isinstance(truncate, bool):
            raise ValueError(f"truncate must be True, False or 'drop', got {truncate!r}")
        if not 0 < val_fraction < 1:
            raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
        if not isinstance(stratify, bool):
            raise ValueError(f"stratify must be true or false, got {stratify!r}")
        floor = min_batches_per_epoch
        if floor is not None and (isinstance(floor, bool) or not isinstance(floor, int) or floor < 1):
            raise ValueError(f"min_batches_per_epoch must be None or a positive integer, got {min_batches_per_epoch!r}")
        if train_examples is not None and (
            isinstance(train_examples, bool) or not isinstance(train_examples, int) or train_examples < 1
        ):
            raise ValueError(f"train_examples must be None or a positive integer, got {train_examples!r}")
        self.train_examples = train_examples
        self.corpus = corpus
        self.tokenizer = tokenizer if tokenizer is not None else (encoder.tokenizer if encoder is not None else None)
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.max_length = max_length
        self.truncate = truncate
        self.bucket = bucket
        self.val_fraction = val_fraction
        self.stratify = stratify
        self.min_batches_per_epoch = min_batches_per_epoch
        self.train_repeats = 1
        self.seed = seed
        self.max_vocab_size = max_vocab_size
        self.min_freq = min_freq
        self.num_workers = num_workers
        self.specials = tuple(specials)
        self.given_encoder = encoder
        self.normalize = normalize
        self.pool_factor = pool_factor
        self.encoder: TextEncoder | None = None
        self.vocab: Vocab | None = None
        self.label_names: tuple[str, ...] = tuple(corpus.label_names)
        self.input_size: int | None = None
        self.feature_mean: np.ndarray | None = None
        self.feature_std: np.ndarray | None = None
        self.datasets: dict[str, SequenceDataset] = {}
        self.skipped_long: int = 0

    # ------------------------------------------------------------------ attributes

    @property
    def num_classes(self) -> int:
        return len(self.label_names)

    @property
    def vocab_size(self) -> int | None:
        return len(self.vocab) if self.vocab is not None else None

    @property
    def pad_index(self) -> int:
        if self.vocab is None:
            return 0
        if self.vocab.pad_index is None:
            raise ValueError(f"the vocabulary has no {PAD} token: add it to specials")
        return self.vocab.pad_index

    # ------------------------------------------------------------------ setup

    def _splits(self) -> dict[str, list[tuple[Any, Any]]]:
        train = self.corpus.examples("train")
        out = {"train": train}
        if "valid" in self.corpus.splits:
            out["valid"] = self.corpus.examples("valid")
        else:
            held = held_out([y for _, y in train], self.val_fraction, self.seed, self.stratify)
            out["valid"] = [train[i] for i in sorted(held)]
            out["train"] = [ex for i, ex in enumerate(train) if i not in held]
        if self.train_examples is not None:
            out["train"] = self._subset(out["train"], self.train_examples)
        if "test" in self.corpus.splits:
            out["test"] = self.corpus.examples("test")
        return out

    def _subset(self, train: list[tuple[Any, Any]], n: int) -> list[tuple[Any, Any]]:
        """``n`` of the training examples, stratified and seeded (``seed + 1``: apart from the validation draw),
        in their file order."""
        if n > len(train):
            raise ValueError(
                f"train_examples={n} but the train split has {len(train):,} examples (after the validation share "
                "is held out): lower data.train_examples or set it to null for all"
            )
        if n == len(train):
            return train
        kept = held_out([y for _, y in train], n / len(train), self.seed + 1, stratify=True)
        return [train[i] for i in sorted(kept)]

    def _encode_texts(self, splits: dict[str, list[tuple[Any, Any]]]) -> dict[str, list[np.ndarray]]:
        """Build (or take) the encoder, then encode every split; the train texts are tokenized once.

        Train tokens get provisional ids (first-seen order) while they are counted; after the
        vocabulary is built a lookup table maps them to the final ids. An empty text becomes one
        ``<unk>`` (``<pad>`` when there is no ``<unk>``), so every sequence has a step.
        """
        train_texts = [x for x, _ in splits["train"]]
        out: dict[str, list[np.ndarray]] = {}
        if self.given_encoder is not None:
            self.encoder = self.given_encoder
        else:
            if self.tokenizer is None:
                raise ValueError(f"{self.corpus.name} is a text corpus: pass a tokenizer (e.g. WordTokenizer())")
            tokenizer = tokenizer_from_dict(self.tokenizer.to_dict())  # a copy: training leaves the caller's alone
            if not tokenizer.is_trained:
                tokenizer.train(train_texts)
            index: dict[str, int] = {}
            provisional = [provisional_ids(tokenizer.tokenize(text), index) for text in train_texts]
            counts = np.bincount(np.concatenate(provisional), minlength=len(index)) if provisional else np.zeros(0, int)
            vocab = build_vocab(
                tokenizer, dict(zip(index, counts.tolist())), self.specials, self.max_vocab_size, self.min_freq
            )
            self.encoder = TextEncoder(tokenizer, vocab)
            unk = vocab.unk_index
            if unk is None and any(t not in vocab.stoi for t in index):
                raise ValueError(
                    "some train tokens are left out of the vocabulary and it has no <unk>: add '<unk>' to specials"
                )
            lut = np.fromiter(map(vocab.stoi.get, index, repeat(unk)), dtype=np.int32, count=len(index))
            out["train"] = [self._nonempty(lut[p]) for p in provisional]
        self.vocab = self.encoder.vocab
        stoi, unk = self.vocab.stoi, self.vocab.unk_index
        tokenize = self.encoder.tokenizer.tokenize
        for split, examples in splits.items():
            if split in out:
                continue
            seqs = []
            for text, _ in examples:
                tokens = tokenize(text)
                if unk is not None:
                    ids = np.fromiter(map(stoi.get, tokens, repeat(unk)), dtype=np.int32, count=len(tokens))
                else:
                    ids = np.asarray(self.vocab.encode(tokens), dtype=np.int32)
                seqs.append(self._nonempty(ids))
            out[split] = seqs
        return out

    def _nonempty(self, ids: np.ndarray) -> np.ndarray:
        if len(ids):
            return ids.astype(np.int32, copy=False)
        fallback = self.vocab.unk_index if self.vocab.unk_index is not None else self.pad_index  # type: ignore[union-attr]
        return np.asarray([fallback], dtype=np.int32)

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        splits = self._splits()
        first = splits["train"][0][0] if splits["train"] else None
        if isinstance(first, str):
            seqs = self._encode_texts(splits)
        elif isinstance(first, np.ndarray) and first.ndim == 2:
            if self.tokenizer is not None:
                raise ValueError(f"{self.corpus.name} has real-valued sequences: tokenizer must be None")
            seqs = {s: [np.asarray(x, dtype=np.float32) for x, _ in ex] for s, ex in splits.items()}
            self.input_size = int(first.shape[1])
            if self.normalize:
                stacked = np.concatenate(seqs["train"], axis=0)  # (sum T, F)
                self.feature_mean = np.nanmean(stacked, axis=0).astype(np.float32)
                std = np.nanstd(stacked, axis=0)
                self.feature_std = np.where(std > 1e-8, std, 1.0).astype(np.float32)  # constant: centred only
                seqs = {s: [(x - self.feature_mean) / self.feature_std for x in xs] for s, xs in seqs.items()}
        else:
            raise ValueError(
                f"{self.corpus.name}: examples must be texts or (T, F) float arrays, got {type(first).__name__}"
            )
        for split, examples in splits.items():
            xs, ys = seqs[split], [y for _, y in examples]
            if self.max_length is not None:
                if self.truncate is False:
                    too_long = next((i for i, x in enumerate(xs) if len(x) > self.max_length), None)
                    if too_long is not None:
                        raise ValueError(
                            f"{self.corpus.name}: {split} example {too_long} has {len(xs[too_long])} steps, more than "
                            f"max_length={self.max_length} (truncate=false). Set data.truncate=true to cut such "
                            "sequences, data.truncate=drop to skip such training examples, or raise data.max_length"
                        )
                elif self.truncate is True or split != "train":
                    xs = [x[: self.max_length] for x in xs]
                else:
                    keep = [i for i, x in enumerate(xs) if len(x) <= self.max_length]
                    self.skipped_long = len(xs) - len(keep)
                    xs, ys = [xs[i] for i in keep], [ys[i] for i in keep]
            if split == "train" and self.min_batches_per_epoch and xs:
                self.train_repeats = max(1, math.ceil(self.min_batches_per_epoch * self.batch_size / len(xs)))
                xs, ys = xs * self.train_repeats, ys * self.train_repeats  # k references to each example
            self.datasets[split] = SequenceDataset(xs, ys)

    # ------------------------------------------------------------------ loaders

    def _loader(self, split: str, batch_size: int, train: bool) -> DataLoader:
        self.setup()
        return split_loader(
            self.datasets,
            split,
            self.corpus.name,
            batch_size,
            PadCollate(self.pad_index),
            train=train,
            seed=self.seed,
            bucket=self.bucket,
            pool_factor=self.pool_factor,
            num_workers=self.num_workers,
            resumable=True,
        )

    def train_dataloader(self) -> DataLoader:
        return self.resumable(self._loader("train", self.batch_size, train=True))  # position saved in checkpoints

    def val_dataloader(self) -> DataLoader:
        return self._loader("valid", self.eval_batch_size, train=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", self.eval_batch_size, train=False)
