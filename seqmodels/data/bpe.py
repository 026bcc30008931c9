"""Byte-level BPE subwords, trained with the Hugging Face ``tokenizers`` library.

Byte-level BPE (GPT-2's scheme): the text's UTF-8 bytes are mapped to 256 printable characters,
pre-tokenized by GPT-2's regex (words keep their leading space, shown as ``Ġ``; a newline is ``Ċ``),
and merged by the ``vocab_size - 256`` most frequent adjacent pairs learned from the training text.
Every string is representable (the 256 byte symbols are always in the alphabet) and
``detokenize(tokenize(text)) == text`` exactly when ``lowercase`` is off.

The trained tokenizer is the library's own JSON (``Tokenizer.to_str()``), kept verbatim inside
:meth:`BPETokenizer.to_dict` and written as-is by :meth:`BPETokenizer.save`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

from .tokenizer_base import Tokenizer, split_at_safe_cuts

PARALLEL_PIECE = 1 << 13
"""Texts longer than twice this many characters are encoded (and trained on) in pieces of about this size, in
parallel. The library's pre-tokenizer slows down on long texts: 64 kB pieces encoded at half the speed of 4-8 kB
ones, and training on 1 MB blocks took 1.7 times as long as on 8 kB pieces (the same merges)."""


def _hf():
    """Import ``tokenizers`` lazily (a clear message when it is missing)."""
    try:
        import tokenizers
    except ImportError as err:  # pragma: no cover - it is a declared dependency
        raise ImportError("BPETokenizer needs the Hugging Face 'tokenizers' package: pip install tokenizers") from err
    return tokenizers


class BPETokenizer(Tokenizer):
    """Byte-level BPE learned from training text.

    Args:
        vocab_size: size of the learned subword vocabulary, 256 byte symbols included (>= 257).
        min_frequency: a pair must occur at least this often to be merged.
        lowercase: lower-case text before everything else (then the round trip lower-cases).
        model: a trained tokenizer as the library's JSON object (what :meth:`to_dict` stores);
            ``None`` for an untrained tokenizer, to be trained by :meth:`train`.

    Example::

        bpe = BPETokenizer(vocab_size=1000).train(lines)
        bpe.tokenize("hello world")   # ['hel', 'lo', 'Ġworld'] (depends on the training text)
    """

    type_name = "bpe"

    def __init__(
        self,
        vocab_size: int = 1000,
        min_frequency: int = 2,
        lowercase: bool = False,
        model: dict[str, Any] | None = None,
    ) -> None:
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 257:
            raise ValueError(f"vocab_size must be an integer >= 257 (256 byte symbols + merges), got {vocab_size!r}")
        if isinstance(min_frequency, bool) or not isinstance(min_frequency, int) or min_frequency < 1:
            raise ValueError(f"min_frequency must be a positive integer, got {min_frequency!r}")
        if not isinstance(lowercase, bool):
            raise ValueError(f"lowercase must be True or False, got {lowercase!r}")
        self.vocab_size = vocab_size
        self.min_frequency = min_frequency
        self.lowercase = lowercase
        self._tok = None
        if model is not None:
            if not isinstance(model, dict):
                raise ValueError(
                    f"model must be the tokenizers library's JSON object (a dict), got {type(model).__name__}"
                )
            try:
                self._tok = _hf().Tokenizer.from_str(json.dumps(model))
            except Exception as err:  # the library raises its own exception types
                raise ValueError(f"model is not a valid Hugging Face tokenizer JSON: {err}") from err

    def _new_tokenizer(self):
        hf = _hf()
        tok = hf.Tokenizer(hf.models.BPE())
        if self.lowercase:
            tok.normalizer = hf.normalizers.Lowercase()
        tok.pre_tokenizer = hf.pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        tok.decoder = hf.decoders.ByteLevel()
        return tok

    @property
    def is_trained(self) -> bool:
        return self._tok is not None

    def train(self, texts: Iterable[str]) -> BPETokenizer:
        """Learn the merges from ``texts`` (an iterable of strings, e.g. lines or documents)."""
        hf = _hf()
        tok = self._new_tokenizer()
        trainer = hf.trainers.BpeTrainer(
            vocab_size=self.vocab_size,
            min_frequency=self.min_frequency,
            initial_alphabet=hf.pre_tokenizers.ByteLevel.alphabet(),
            special_tokens=[],
            show_progress=False,
        )
        # pieces cut where no pre-token spans the cut: the same word counts, hence the same merges, in parallel
        pieces = (piece for text in texts for piece in split_at_safe_cuts(text, PARALLEL_PIECE))
        tok.train_from_iterator(pieces, trainer=trainer)
        self._tok = tok
        return self

    def _require_trained(self):
        if self._tok is None:
            raise RuntimeError(
                "BPETokenizer is not trained: call train(texts) first (the DataModules do this on the train split)"
            )
        return self._tok

    def tokenize(self, text: str) -> list[str]:
        """Byte-level BPE tokens of ``text``; a long text is cut at safe places and encoded in parallel threads."""
        tok = self._require_trained()
        if len(text) <= 2 * PARALLEL_PIECE:
            return tok.encode(text, add_special_tokens=False).tokens
        pieces = split_at_safe_cuts(text, PARALLEL_PIECE)
        return [t for e in tok.encode_batch(pieces, add_special_tokens=False) for t in e.tokens]

    def encode_ids(self, text: str) -> np.ndarray:
        """The library's ids (uint32) of ``text``'s tokens, cut at safe places and encoded in parallel threads.

        Its own id order (that of :meth:`vocabulary`), not a :class:`~seqmodels.data.vocab.Vocab`'s.
        """
        encodings = self._encode_batch(split_at_safe_cuts(text, PARALLEL_PIECE))
        return np.fromiter(chain.from_iterable(e.ids for e in encodings), dtype=np.uint32)

    def _encode_batch(self, texts: list[str]) -> list[Any]:
        tok = self._require_trained()
        fast = getattr(tok, "encode_batch_fast", None)  # tokenizers >= 0.20: no character offsets computed
        return (fast or tok.encode_batch)(texts, add_special_tokens=False)

    def tokenize_batch(self, texts: Sequence[str]) -> list[list[str]]:
        """:meth:`tokenize` of many texts at once, in parallel threads."""
        return [e.tokens for e in self._require_trained().encode_batch(list(texts), add_special_tokens=False)]

    def detokenize(self, tokens: Sequence[str]) -> str:
        return self._require_trained().decoder.decode(list(tokens))

    def vocabulary(self) -> list[str]:
        """The learned subwords (256 byte symbols included), in the library's id order."""
        vocab = self._require_trained().get_vocab()
        return sorted(vocab, key=vocab.__getitem__)

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type_name,
            "vocab_size": self.vocab_size,
            "min_frequency": self.min_frequency,
            "lowercase": self.lowercase,
            "model": json.loads(self._tok.to_str()) if self._tok is not None else None,
        }

    def __repr__(self) -> str:
        state = f"trained, {len(self.vocabulary())} subwords" if self.is_trained else "untrained"
        settings = f"vocab_size={self.vocab_size}, min_frequency={self.min_frequency}, lowercase={self.lowercase}"
        return f"BPETokenizer({settings}; {state})"

    def save(self, path: str | Path) -> None:
        """Write the trained tokenizer as the library's own JSON file (loadable by ``tokenizers.Tokenizer.from_file``)."""
        Path(path).write_text(self._require_trained().to_str(pretty=True), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path, min_frequency: int = 2) -> BPETokenizer:
        """Read a tokenizer JSON file written by :meth:`save` (or by the library)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"BPE tokenizer file {path} not found")
        model = json.loads(path.read_text(encoding="utf-8"))
        vocab = model.get("model", {}).get("vocab", {})
        lowercase = (model.get("normalizer") or {}).get("type") == "Lowercase"
        return cls(vocab_size=max(len(vocab), 257), min_frequency=min_frequency, lowercase=lowercase, model=model)
