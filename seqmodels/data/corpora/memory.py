"""Corpora held in memory: for tests, notebooks and small experiments (no files involved)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from typing import Any

from .base import ClassificationCorpus, TextCorpus, check_split

SPLITS = ("train", "valid", "test")


class StringCorpus(TextCorpus):
    """A corpus held in memory: one string per split (for tests, notebooks and small experiments).

    Args:
        train, valid, test: the texts (``test`` defaults to ``valid``).
        name: used in cache folder names.
    """

    def __init__(self, train: str, valid: str, test: str | None = None, name: str = "strings") -> None:
        texts = {"train": train, "valid": valid, "test": valid if test is None else test}
        for split, text in texts.items():
            if not isinstance(text, str):
                raise ValueError(f"{split} must be a string, got {type(text).__name__}")
        self.texts = texts
        self.name = name

    def iter_text(self, split: str) -> Iterator[str]:
        yield self.texts[check_split(split, SPLITS, self.name)]

    def fingerprint(self) -> dict[str, Any]:
        return {
            "corpus": self.name,
            "sha256": {
                s: hashlib.sha256(t.encode("utf-8", "surrogatepass")).hexdigest() for s, t in self.texts.items()
            },
        }


class ExampleCorpus(ClassificationCorpus):
    """A classification corpus held in memory: ``(x, label)`` lists per split.

    Args:
        train: ``[(text or float array (T, F), label index), ...]``.
        label_names: one name per class.
        valid, test: optional; without ``valid`` the DataModule holds one out of train.
        name: a label for messages.
    """

    def __init__(
        self,
        train: list[tuple[Any, Any]],
        label_names: Sequence[str],
        valid: list[tuple[Any, Any]] | None = None,
        test: list[tuple[Any, Any]] | None = None,
        name: str = "examples",
    ) -> None:
        self.data = {"train": list(train)}
        if valid is not None:
            self.data["valid"] = list(valid)
        if test is not None:
            self.data["test"] = list(test)
        self.splits = tuple(self.data)
        self.label_names = tuple(label_names)
        self.name = name

    def examples(self, split: str) -> list[tuple[Any, Any]]:
        return list(self.data[check_split(split, self.splits, self.name)])
