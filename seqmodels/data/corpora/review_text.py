"""The text of IMDB's training reviews as a language-modeling corpus (no labels, never the test reviews).

ULMFiT (Howard & Ruder 2018) fine-tunes its language model on the target task's own text before the
classifier; their ablation without an outside corpus trains the language model on IMDB's reviews alone. Here
only the 25,000 *training* reviews are read, so that nothing of the test reviews reaches the model before the
classifier's test.

Splits, by whole review: a seeded permutation of the training reviews puts ``round(N * val_fraction)`` of them
in ``valid`` and the rest in ``train``; the same seed gives the same split. Each review is one line followed
by ``" <eos>"``, as the word-level corpora here end their lines. There is no ``test`` split.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from typing import Any

from ..vocab import EOS
from .base import TextCorpus, check_split, files_fingerprint, iter_blocks
from .sentiment import IMDB


class IMDBReviewText(TextCorpus):
    """The training reviews' text of :class:`~seqmodels.data.IMDB` (either of its layouts), split by review.

    Args:
        path: the IMDB folder (``train.tsv.gz``, or ``aclImdb/train/{pos,neg}/``).
        val_fraction: share of the training reviews held out as ``valid``, in (0, 1).
        seed: the permutation's seed.
        encoding: the files' text encoding.
        max_reviews: read only this many of the training reviews (the first of the seeded permutation) before
            the split: quick trials and tests. None: all.
    """

    name = "imdb_text"
    splits = ("train", "valid")

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        val_fraction: float = 0.05,
        seed: int = 1234,
        encoding: str = "utf-8",
        max_reviews: int | None = None,
    ) -> None:
        if isinstance(val_fraction, bool) or not isinstance(val_fraction, (int, float)) or not 0 < val_fraction < 1:
            raise ValueError(f"val_fraction must be a number in (0, 1), got {val_fraction!r}")
        if max_reviews is not None and (
            isinstance(max_reviews, bool) or not isinstance(max_reviews, int) or max_reviews < 2
        ):
            raise ValueError(f"max_reviews must be None or an integer >= 2, got {max_reviews!r}")
        self.max_reviews = max_reviews
        self.reviews = IMDB(path, encoding=encoding)
        self.val_fraction = float(val_fraction)
        self.seed = int(seed)
        self._texts: list[str] | None = None
        self._valid: set[int] | None = None
        self._kept: set[int] = set()

    def _split(self) -> tuple[list[str], set[int]]:
        if self._texts is None or self._valid is None:
            self._texts = [text for _, _, text, _ in self.reviews.records("train")]
            order = list(range(len(self._texts)))
            random.Random(self.seed).shuffle(order)
            if self.max_reviews is not None:
                order = order[: self.max_reviews]
            self._valid = set(order[: round(len(order) * self.val_fraction)])
            self._kept = set(order)
        return self._texts, self._valid

    def review_indices(self, split: str) -> list[int]:
        """Indices (in the training file's order) of the reviews in ``split``."""
        check_split(split, self.splits, self.name)
        texts, valid = self._split()
        return [i for i in range(len(texts)) if i in self._kept and (i in valid) == (split == "valid")]

    def iter_text(self, split: str) -> Iterator[str]:
        texts, _ = self._split()
        suffix = f" {EOS}\n"
        return iter_blocks(texts[i].replace("\n", " ") + suffix for i in self.review_indices(split))

    def fingerprint(self) -> dict[str, Any]:
        _, train_file = self.reviews._layout("train")
        files = [train_file] if train_file.is_file() else sorted(p for p in train_file.rglob("*.txt"))
        return {
            "corpus": self.name,
            "encoding": self.reviews.encoding,
            "eos": EOS,
            "val_fraction": self.val_fraction,
            "seed": self.seed,
            "max_reviews": self.max_reviews,
            "files": files_fingerprint(files),
        }
