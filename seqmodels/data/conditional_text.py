"""Batches for a conditional language model: whole texts between boundaries, each with its condition.

A batch is a dict (what :class:`~seqmodels.tasks.LanguageModelingTask` trains a
:class:`~seqmodels.models.ConditionalLanguageModel` on; any data module for that model yields these keys)::

    tokens            LongTensor (B, T): row b is [start, x_1, ..., x_n, <eos>] then padding (<pad>), with
                      start = <bos> when the vocabulary has it, else <eos>; T = the longest row
    lengths           LongTensor (B,): n + 2, the row's tokens before the padding
    condition         LongTensor (B, K): the id of each categorical field's value (when there are such fields)
    condition_values  FloatTensor (B, F): the real-valued fields (when there are such fields)

The model reads ``tokens[:, :-1]`` and is scored on ``tokens[:, 1:]`` at the positions before each row's
length: ``x_1..x_n`` and the closing ``<eos>``, so that generation from ``start`` knows where to stop.

Such a data module also exposes, after ``setup()``: ``encoder`` and ``vocab_size`` (the text), ``conditions``
(:class:`~seqmodels.data.conditions.Conditions`: the fields and their values, stored in checkpoints),
``condition_sizes`` (K ints) and ``condition_features`` (F), and ``contiguous = False`` (the rows are
independent: no state is carried from one batch to the next).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from .batching import split_loader
from .classification import ClassificationDataModule
from .conditions import Conditions
from .vocab import EOS, PAD, UNK


class ConditionalCollate:
    """``[(ids (n,), (condition ids (K,), values (F,))), ...]`` -> the batch dict of the module docstring.

    Args:
        pad, start, end: the ids of ``<pad>``, the start token and ``<eos>``.
        num_fields: K; num_values: F (a key is left out when its count is 0).
    """

    def __init__(self, pad: int, start: int, end: int, num_fields: int, num_values: int) -> None:
        self.pad, self.start, self.end = pad, start, end
        self.num_fields, self.num_values = num_fields, num_values

    def __call__(self, batch: Sequence[tuple[np.ndarray, tuple[Sequence[int], Sequence[float]]]]) -> dict[str, Any]:
        if not batch:
            raise ValueError("cannot collate an empty batch")
        lengths = torch.tensor([len(ids) + 2 for ids, _ in batch], dtype=torch.long)  # (B,)
        tokens = torch.full((len(batch), int(lengths.max())), self.pad, dtype=torch.long)  # (B, T)
        for b, (ids, _) in enumerate(batch):
            n = len(ids)
            tokens[b, 0] = self.start
            tokens[b, 1 : n + 1] = torch.from_numpy(np.asarray(ids, dtype=np.int64))
            tokens[b, n + 1] = self.end
        out: dict[str, Any] = {"tokens": tokens, "lengths": lengths}
        if self.num_fields:
            out["condition"] = torch.tensor([list(c[0]) for _, c in batch], dtype=torch.long)  # (B, K)
        if self.num_values:
            out["condition_values"] = torch.tensor([list(c[1]) for _, c in batch], dtype=torch.float32)  # (B, F)
        return out


class ConditionalTextDataModule(ClassificationDataModule):
    """Conditioned texts batched as the module docstring says, from a corpus whose ``examples(split)`` are
    ``[(text, (ids, values)), ...]`` and whose ``conditions`` name the fields (e.g.
    :class:`~seqmodels.data.corpora.conditional_text.ConditionalTextFiles`;
    :class:`~seqmodels.data.from_files.ConditionalTextData` builds one from paths).

    Tokenizing, the vocabulary (a BPE tokenizer trained on the train texts), the held-out validation share,
    ``max_length`` and ``truncate`` (counted in text tokens, the boundaries not included), bucketing and
    ``min_batches_per_epoch`` are :class:`~seqmodels.data.ClassificationDataModule`'s.

    Args:
        corpus: the texts and their conditions.
        specials: vocabulary specials; ``<pad>`` first (padding is id 0) and ``<eos>`` (the boundary) needed.
        **options: :class:`~seqmodels.data.ClassificationDataModule`'s arguments (``tokenizer``,
            ``batch_size``, ``max_length``, ``val_fraction``, ``seed``, ``encoder``, ...).
    """

    contiguous = False  # independent rows: the task starts every batch from the condition's state

    def __init__(self, corpus: Any, specials: Sequence[str] = (PAD, UNK, EOS), **options: Any) -> None:
        if not specials or specials[0] != PAD or EOS not in specials:
            raise ValueError(f"specials must start with {PAD} and hold {EOS} (the boundary), got {list(specials)}")
        conditions = getattr(corpus, "conditions", None)
        if not isinstance(conditions, Conditions):
            raise ValueError(f"corpus must have the Conditions of its fields as .conditions, got {conditions!r:.60}")
        if options.get("stratify"):
            raise ValueError("stratify is for classes; a conditional generator's data has none (leave it false)")
        super().__init__(corpus, specials=specials, **options)
        self.conditions: Conditions = conditions

    @property
    def condition_sizes(self) -> list[int]:
        """K: the number of values of each categorical field."""
        return self.conditions.sizes

    @property
    def condition_features(self) -> int:
        """F: the number of real-valued fields."""
        return self.conditions.num_values

    def _loader(self, split: str, batch_size: int, train: bool) -> DataLoader:
        self.setup()
        vocab = self.vocab
        assert vocab is not None and vocab.eos_index is not None  # a text corpus, <eos> in the specials
        start = vocab.bos_index if vocab.bos_index is not None else vocab.eos_index
        collate = ConditionalCollate(
            self.pad_index, start, vocab.eos_index, len(self.condition_sizes), self.condition_features
        )
        return split_loader(
            self.datasets,
            split,
            self.corpus.name,
            batch_size,
            collate,
            train=train,
            seed=self.seed,
            bucket=self.bucket,
            pool_factor=self.pool_factor,
            num_workers=self.num_workers,
            resumable=True,
        )


__all__ = ["ConditionalCollate", "ConditionalTextDataModule"]
