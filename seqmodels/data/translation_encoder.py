"""The pair of text encoders of an encoder-decoder model (source and target), stored in its checkpoints."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from .encoder import TextEncoder
from .vocab import BOS, EOS, PAD, Vocab


class TranslationEncoder:
    """A source :class:`TextEncoder` and a target one, stored together in checkpoints.

    ``encode(text)`` reads a source sentence into ids; ``decode(ids)`` writes target ids as text
    (``<bos>``, ``<eos>`` and ``<pad>`` left out). ``vocab`` is the source vocabulary (what the model's
    input embedding indexes, so ``padding_idx`` comes from it). The target vocabulary must hold
    ``<pad>``, ``<bos>`` and ``<eos>``.
    """

    type_name = "translation_encoder"

    def __init__(self, source: TextEncoder | Mapping[str, Any], target: TextEncoder | Mapping[str, Any]) -> None:
        self.source = TextEncoder.from_dict(source) if isinstance(source, Mapping) else source
        self.target = TextEncoder.from_dict(target) if isinstance(target, Mapping) else target
        for key, value in (("source", self.source), ("target", self.target)):
            if not isinstance(value, TextEncoder):
                raise ValueError(f"{key} must be a TextEncoder or its dict, got {type(value).__name__}")
        missing = [t for t in (PAD, BOS, EOS) if t not in self.target.vocab]
        if missing:
            raise ValueError(
                f"the target vocabulary lacks {missing}: build it with specials including {PAD}, {BOS}, {EOS}"
            )

    @property
    def vocab(self) -> Vocab:
        return self.source.vocab

    @property
    def target_vocab(self) -> Vocab:
        return self.target.vocab

    # the target vocabulary has all three (checked in __init__)
    @property
    def bos_index(self) -> int:
        return self.target.vocab.stoi[BOS]

    @property
    def eos_index(self) -> int:
        return self.target.vocab.stoi[EOS]

    @property
    def pad_index(self) -> int:
        return self.target.vocab.stoi[PAD]

    def encode(self, text: str) -> list[int]:
        """Source text -> source ids (an empty text gives ``[<unk>]``, so that every source has a step)."""
        ids = self.source.encode(text)
        return ids or [self.source.vocab.unk_index if self.source.vocab.unk_index is not None else 0]

    def decode(self, ids: Sequence[int] | torch.Tensor) -> str:
        """Target ids -> text, up to the first ``<eos>``, without ``<bos>``/``<pad>``."""
        ids = ids.tolist() if hasattr(ids, "tolist") else list(ids)
        if self.eos_index in ids:
            ids = ids[: ids.index(self.eos_index)]
        return self.target.decode(ids, skip=(BOS, PAD))

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type_name, "source": self.source.to_dict(), "target": self.target.to_dict()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TranslationEncoder:
        if not isinstance(d, Mapping) or d.get("type") != cls.type_name or "source" not in d or "target" not in d:
            raise ValueError(f"a {cls.type_name} dict needs type={cls.type_name!r}, 'source' and 'target' keys")
        return cls(d["source"], d["target"])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TranslationEncoder) and other.to_dict() == self.to_dict()

    def __repr__(self) -> str:
        return f"TranslationEncoder(source_vocab={len(self.source.vocab)}, target_vocab={len(self.target.vocab)})"
