"""The tokenizer base class, the registry its subclasses enter, and the safe places to cut text.

Every tokenizer has

    tokenize(text: str) -> list[str]
    detokenize(tokens: list[str]) -> str
    to_dict() -> dict                       # JSON-able, with a "type" key
    iter_tokenize(chunks) -> Iterator[list[str]]   # the same tokens, from text read in pieces
    train(texts) -> self                    # learns from training text (only BPE needs it)
    is_trained: bool
    vocabulary() -> list[str] | None        # the closed token set (BPE), else None

Subclasses register themselves in :data:`TOKENIZERS` under their ``type_name``; that registry, not
string comparisons, is how a saved tokenizer finds its class again
(:func:`seqmodels.data.tokenizers.tokenizer_from_dict`, next to the built-in tokenizers).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, ClassVar

TOKENIZERS: dict[str, type[Tokenizer]] = {}
"""type name -> tokenizer class; filled by subclassing :class:`Tokenizer` with a ``type_name``."""

BLOCK_CHARS = 1 << 20
""":meth:`Tokenizer.iter_tokenize` tokenizes text in pieces of about this many characters."""


def _last_safe_cut(text: str) -> int:
    """Index just after the last newline that sits between two non-space characters, or -1.

    Cutting there splits no token of any built-in tokenizer: whitespace and regex words,
    characters and byte-level BPE pre-tokens (whose whitespace runs would otherwise change
    at a cut) never span a lone newline between visible characters.
    """
    pos = len(text)
    while (pos := text.rfind("\n", 0, pos)) >= 0:
        if 0 < pos < len(text) - 1 and not text[pos - 1].isspace() and not text[pos + 1].isspace():
            return pos + 1
    return -1


_CUT = re.compile(r"(?<=\S)\n(?=\S)")


def split_at_safe_cuts(text: str, size: int) -> list[str]:
    """``text`` cut into pieces of at least ``size`` characters, only at newlines between two
    non-space characters (:func:`_last_safe_cut`'s rule); ``"".join`` of the pieces is ``text``."""
    pieces = []
    pos = 0
    while pos < len(text):
        match = _CUT.search(text, pos + size)
        end = match.end() if match else len(text)
        pieces.append(text[pos:end])
        pos = end
    return pieces


def iter_pieces(chunks: Iterable[str], block_chars: int = BLOCK_CHARS) -> Iterator[str]:
    """The text of ``chunks`` regrouped into pieces of about ``block_chars`` characters or more, cut only at a
    newline between two non-space characters (:func:`_last_safe_cut`); ``"".join`` of them is the text."""
    buffer = ""
    for chunk in chunks:
        buffer += chunk
        if len(buffer) < block_chars:
            continue
        cut = _last_safe_cut(buffer)
        if cut > 0:
            yield buffer[:cut]
            buffer = buffer[cut:]
    if buffer:
        yield buffer


class Tokenizer(ABC):
    """Base class: a reversible-as-far-as-possible map between text and token strings."""

    type_name: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("type_name")
        if name:
            if name in TOKENIZERS and TOKENIZERS[name] is not cls:
                raise ValueError(f"tokenizer type {name!r} is already registered by {TOKENIZERS[name].__qualname__}")
            TOKENIZERS[name] = cls

    @abstractmethod
    def tokenize(self, text: str) -> list[str]:
        """Split ``text`` into token strings."""

    @abstractmethod
    def detokenize(self, tokens: Sequence[str]) -> str:
        """Join token strings back into text."""

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """JSON-able description with a ``"type"`` key; :func:`tokenizer_from_dict` inverts it."""

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Tokenizer:
        """Rebuild from :meth:`to_dict` output (the ``"type"`` key is ignored here)."""
        kwargs = {k: v for k, v in d.items() if k != "type"}
        try:
            return cls(**kwargs)
        except TypeError as err:
            raise ValueError(f"cannot build {cls.__name__} from {d!r}: {err}") from err

    @property
    def is_trained(self) -> bool:
        """Whether :meth:`tokenize` can run; only learned tokenizers (BPE) start untrained."""
        return True

    def train(self, texts: Iterable[str]) -> Tokenizer:
        """Learn from training text. Rule-based tokenizers have nothing to learn: returns ``self``."""
        return self

    def vocabulary(self) -> list[str] | None:
        """Every token this tokenizer can produce, when that set is closed (BPE), else ``None``.

        A closed set becomes the vocabulary as-is (see :func:`seqmodels.data.encoder.build_vocab`),
        so that no text ever maps to ``<unk>``.
        """
        return None

    def iter_tokenize(self, chunks: Iterable[str], block_chars: int = BLOCK_CHARS) -> Iterator[list[str]]:
        """Tokenize text that arrives in pieces, yielding lists whose concatenation is
        ``tokenize("".join(chunks))`` while holding only about ``block_chars`` characters at a time.

        Pieces are cut only at a newline between two non-space characters (see :func:`iter_pieces`);
        a text without such a place is held whole.
        """
        for piece in iter_pieces(chunks, block_chars):
            yield self.tokenize(piece)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.to_dict() == self.to_dict()

    def __hash__(self) -> int:
        return hash((type(self).__name__, repr(sorted(self.to_dict().items(), key=lambda kv: kv[0]))))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items() if k != "type")
        return f"{type(self).__name__}({args})"


__all__ = ["BLOCK_CHARS", "TOKENIZERS", "Tokenizer", "iter_pieces", "split_at_safe_cuts"]
