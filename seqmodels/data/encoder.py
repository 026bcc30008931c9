"""Text <-> ids in one object (tokenizer + vocabulary), and a one-hot helper.

``TextEncoder.to_dict()`` is a plain JSON-able dict: this is what checkpoints carry, so that
sampling and scoring read text exactly as training did.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .tokenizers import Tokenizer, tokenizer_from_dict
from .vocab import DEFAULT_SPECIALS, Vocab


def build_vocab(
    tokenizer: Tokenizer,
    counts: Mapping[str, int],
    specials: Iterable[str] = DEFAULT_SPECIALS,
    max_size: int | None = None,
    min_freq: int = 1,
) -> Vocab:
    """The vocabulary for ``tokenizer`` given the training token ``counts``.

    A tokenizer with a closed token set (``tokenizer.vocabulary()`` not ``None``, e.g. BPE) gets
    exactly that set after the specials, in its own order, so that nothing maps to ``<unk>``; its
    size was chosen when it was trained, so ``max_size`` and ``min_freq`` must be left at their
    defaults. Otherwise this is :meth:`Vocab.build` on the counts.
    """
    specials = tuple(specials)
    closed = tokenizer.vocabulary()
    if closed is None:
        return Vocab.build(counts, specials=specials, max_size=max_size, min_freq=min_freq)
    if max_size is not None or min_freq != 1:
        raise ValueError(
            f"{type(tokenizer).__name__} has a fixed vocabulary of {len(closed)} tokens (set vocab_size when "
            f"training it); max_size={max_size!r} and min_freq={min_freq!r} must stay None and 1"
        )
    special_set = set(specials)
    return Vocab(list(specials) + [t for t in closed if t not in special_set], specials)


class TextEncoder:
    """``encode(text) = vocab.encode(tokenizer.tokenize(text))``; ``decode`` is the reverse.

    Args:
        tokenizer: a trained :class:`~seqmodels.data.tokenizers.Tokenizer` (or its dict).
        vocab: a :class:`~seqmodels.data.vocab.Vocab` (or its dict).
    """

    def __init__(self, tokenizer: Tokenizer | Mapping[str, Any], vocab: Vocab | Mapping[str, Any]) -> None:
        if isinstance(tokenizer, Mapping):
            tokenizer = tokenizer_from_dict(dict(tokenizer))
        if isinstance(vocab, Mapping):
            vocab = Vocab.from_dict(vocab)
        if not isinstance(tokenizer, Tokenizer):
            raise ValueError(f"tokenizer must be a Tokenizer or its dict, got {type(tokenizer).__name__}")
        if not isinstance(vocab, Vocab):
            raise ValueError(f"vocab must be a Vocab or its dict, got {type(vocab).__name__}")
        self.tokenizer = tokenizer
        self.vocab = vocab

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def encode(self, text: str) -> list[int]:
        """Text -> list of ids."""
        return self.vocab.encode(self.tokenizer.tokenize(text))

    def encode_array(self, text: str, dtype: Any = np.int64) -> np.ndarray:
        """Text -> 1-D numpy array of ids."""
        ids = self.encode(text)
        return np.fromiter(ids, dtype=dtype, count=len(ids))

    def decode(self, ids: Iterable[int], skip: Iterable[str] = ()) -> str:
        """Ids (list, tensor or array) -> text; tokens listed in ``skip`` (e.g. ``["<pad>"]``) are left out."""
        tokens = self.vocab.decode(ids)
        skip = set(skip)
        if skip:
            tokens = [t for t in tokens if t not in skip]
        return self.tokenizer.detokenize(tokens)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "text_encoder", "tokenizer": self.tokenizer.to_dict(), "vocab": self.vocab.to_dict()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TextEncoder:
        if not isinstance(d, Mapping) or "tokenizer" not in d or "vocab" not in d:
            raise ValueError("a TextEncoder dict needs 'tokenizer' and 'vocab' keys")
        return cls(d["tokenizer"], d["vocab"])

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> TextEncoder:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"text encoder file {path} not found")
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TextEncoder) and other.to_dict() == self.to_dict()

    def __repr__(self) -> str:
        return f"TextEncoder({self.tokenizer!r}, vocab_size={self.vocab_size})"


def one_hot(ids: Any, num_classes: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """One-hot encode integer ids.

    Args:
        ids: integer ids, any shape (a LongTensor, numpy array or nested list).
        num_classes: C, the number of classes; every id must be in [0, C).
        dtype: floating dtype of the result.

    Returns:
        Tensor of shape ``ids.shape + (C,)`` with ``out[..., k] = 1`` where ``ids == k``.
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    t = ids if isinstance(ids, torch.Tensor) else torch.as_tensor(np.asarray(ids))
    if t.dtype.is_floating_point or t.dtype == torch.bool or t.is_complex():
        raise ValueError(f"ids must be integers, got dtype {t.dtype}")
    t = t.long()
    if t.numel() and (int(t.min()) < 0 or int(t.max()) >= num_classes):
        raise ValueError(f"ids must lie in [0, num_classes={num_classes}), got min {int(t.min())}, max {int(t.max())}")
    return torch.nn.functional.one_hot(t, num_classes).to(dtype)
