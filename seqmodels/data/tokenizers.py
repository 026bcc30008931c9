"""Tokenizers: text -> list of token strings, and back.

Kinds: characters, words (whitespace or a regex, optional lowercasing),
sentences, n-grams of any of those, subword BPE (``seqmodels.data.bpe``) and ABC music notation
(``seqmodels.data.abc_tokens``). Every one is a
:class:`~seqmodels.data.tokenizer_base.Tokenizer` (its interface is described there) and registers
itself in :data:`TOKENIZERS` under its ``type_name``; :func:`tokenizer_from_dict` rebuilds one from
its dict. This module imports every built-in tokenizer, so all of them are registered once it is loaded.

Round trips: ``CharTokenizer`` and a lowercasing-free ``BPETokenizer`` give back the exact text;
``WordTokenizer`` gives back the words joined by single spaces.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from .abc_tokens import ABCTokenizer
from .bpe import BPETokenizer
from .tokenizer_base import BLOCK_CHARS, TOKENIZERS, Tokenizer


class CharTokenizer(Tokenizer):
    """One token per Unicode character (code point). ``detokenize`` is ``"".join``: exact round trip."""

    type_name = "char"

    def tokenize(self, text: str) -> list[str]:
        return list(text)

    def detokenize(self, tokens: Sequence[str]) -> str:
        return "".join(tokens)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type_name}


class WordTokenizer(Tokenizer):
    """Words: ``text.split()`` by default, or every match of the regex ``pattern``.

    Args:
        lowercase: lower-case the text first.
        pattern: a regular expression; tokens are ``re.findall(pattern, text)`` (use
            non-capturing groups). For example ``r"\\w+|[^\\w\\s]"`` splits off punctuation.
            A pattern should not match across a newline between two visible characters
            (see :meth:`Tokenizer.iter_tokenize`).

    ``detokenize`` is ``" ".join(tokens)``.
    """

    type_name = "word"

    def __init__(self, lowercase: bool = False, pattern: str | None = None) -> None:
        if not isinstance(lowercase, bool):
            raise ValueError(f"lowercase must be True or False, got {lowercase!r}")
        if pattern is not None:
            if not isinstance(pattern, str) or not pattern:
                raise ValueError(f"pattern must be a non-empty regular expression string or None, got {pattern!r}")
            try:
                compiled = re.compile(pattern)
            except re.error as err:
                raise ValueError(f"pattern {pattern!r} is not a valid regular expression: {err}") from err
            if compiled.groups:
                raise ValueError(f"pattern {pattern!r} has capturing groups; use (?:...) so matches are whole tokens")
            self._regex: re.Pattern[str] | None = compiled
        else:
            self._regex = None
        self.lowercase = lowercase
        self.pattern = pattern

    def tokenize(self, text: str) -> list[str]:
        if self.lowercase:
            text = text.lower()
        if self._regex is None:
            return text.split()
        return self._regex.findall(text)

    def detokenize(self, tokens: Sequence[str]) -> str:
        return " ".join(tokens)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type_name, "lowercase": self.lowercase, "pattern": self.pattern}


_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]*[A-Z0-9])|\n\s*\n")


def split_sentences(text: str) -> list[str]:
    """Rule-based sentence splitting.

    A sentence ends at ``.``, ``!`` or ``?`` (plus closing quotes/brackets) followed by whitespace
    and an upper-case letter or digit (optionally after an opening quote/bracket), and at every
    blank line. Sentences are returned stripped, empty ones dropped. Abbreviations such as
    "Mr. Smith" are split too: a simple rule-based splitter, not a trained one.
    """
    parts: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        end = match.start()
        # keep closing quotes/brackets with the sentence they close
        closing = re.match(r"[\"')\]]*", text[end : match.end()])
        end += closing.end() if closing else 0
        parts.append(text[start:end])
        start = match.end()
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


class SentenceTokenizer(Tokenizer):
    """One token per sentence (:func:`split_sentences`); ``detokenize`` joins with single spaces.

    :meth:`iter_tokenize` cuts text only at blank lines, which always end a sentence.
    """

    type_name = "sentence"

    def tokenize(self, text: str) -> list[str]:
        return split_sentences(text)

    def detokenize(self, tokens: Sequence[str]) -> str:
        return " ".join(tokens)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type_name}

    def iter_tokenize(self, chunks: Iterable[str], block_chars: int = BLOCK_CHARS) -> Iterator[list[str]]:
        buffer = ""
        for chunk in chunks:
            buffer += chunk
            if len(buffer) < block_chars:
                continue
            cut = buffer.rfind("\n\n")
            if cut > 0:
                yield self.tokenize(buffer[:cut])
                buffer = buffer[cut:]
        if buffer:
            yield self.tokenize(buffer)


def ngrams(items: Sequence[Any], n: int) -> list[tuple[Any, ...]]:
    """Overlapping n-grams: ``ngrams("abcd", 2) == [("a","b"), ("b","c"), ("c","d")]``.

    A sequence shorter than ``n`` gives no n-gram.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    return [tuple(items[i : i + n]) for i in range(len(items) - n + 1)]


class NGramTokenizer(Tokenizer):
    """Overlapping n-grams of another tokenizer's tokens, each joined by ``sep`` into one string.

    ``NGramTokenizer(2, CharTokenizer(), sep="")`` turns "abc" into ``["ab", "bc"]``;
    the default (words, ``sep=" "``) turns "the cat sat" into ``["the cat", "cat sat"]``.
    A text with fewer than ``n`` base tokens (but at least one) becomes a single shorter token,
    so nothing is lost: ``detokenize(tokenize(t)) == base.detokenize(base.tokenize(t))`` as long as
    ``sep`` does not occur inside base tokens (with ``sep=""`` base tokens must be single characters).

    Args:
        n: the n-gram order, >= 1.
        base: the tokenizer whose tokens are grouped (default ``WordTokenizer()``).
        sep: the string joining the n tokens of one n-gram.
    """

    type_name = "ngram"

    def __init__(self, n: int = 2, base: Tokenizer | dict[str, Any] | None = None, sep: str = " ") -> None:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        if not isinstance(sep, str):
            raise ValueError(f"sep must be a string, got {sep!r}")
        if isinstance(base, dict):
            base = tokenizer_from_dict(base)
        self.n = n
        self.base = base if base is not None else WordTokenizer()
        if not isinstance(self.base, Tokenizer):
            raise ValueError(f"base must be a Tokenizer or its dict, got {type(base).__name__}")
        self.sep = sep

    @property
    def is_trained(self) -> bool:
        return self.base.is_trained

    def train(self, texts: Iterable[str]) -> NGramTokenizer:
        self.base.train(texts)
        return self

    def _group(self, tokens: Sequence[str]) -> list[str]:
        if 0 < len(tokens) < self.n:
            return [self.sep.join(tokens)]
        return [self.sep.join(g) for g in ngrams(tokens, self.n)]

    def tokenize(self, text: str) -> list[str]:
        return self._group(self.base.tokenize(text))

    def _parts(self, token: str) -> list[str]:
        return token.split(self.sep) if self.sep else list(token)

    def detokenize(self, tokens: Sequence[str]) -> str:
        if not tokens:
            return self.base.detokenize([])
        base_tokens = self._parts(tokens[0])
        for token in tokens[1:]:
            base_tokens.append(self._parts(token)[-1])
        return self.base.detokenize(base_tokens)

    def iter_tokenize(self, chunks: Iterable[str], block_chars: int = BLOCK_CHARS) -> Iterator[list[str]]:
        """N-grams over the base tokenizer's pieces, carrying the last ``n - 1`` tokens across pieces."""
        carry: list[str] = []
        emitted = False
        for piece in self.base.iter_tokenize(chunks, block_chars):
            window = carry + piece
            if len(window) >= self.n:
                yield [self.sep.join(g) for g in ngrams(window, self.n)]
                emitted = True
                carry = window[len(window) - self.n + 1 :] if self.n > 1 else []
            else:
                carry = window
        if not emitted and carry:
            yield [self.sep.join(carry)]

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type_name, "n": self.n, "base": self.base.to_dict(), "sep": self.sep}


def tokenizer_from_dict(d: dict[str, Any]) -> Tokenizer:
    """Rebuild any registered tokenizer from its :meth:`Tokenizer.to_dict` output."""
    if not isinstance(d, dict) or "type" not in d:
        raise ValueError(f"a tokenizer dict needs a 'type' key (one of {sorted(TOKENIZERS)}), got {d!r}")
    cls = TOKENIZERS.get(d["type"])
    if cls is None:
        raise ValueError(f"unknown tokenizer type {d['type']!r}; known types: {sorted(TOKENIZERS)}")
    return cls.from_dict(d)


__all__ = [
    "TOKENIZERS",
    "Tokenizer",
    "CharTokenizer",
    "WordTokenizer",
    "SentenceTokenizer",
    "NGramTokenizer",
    "BPETokenizer",
    "ABCTokenizer",
    "split_sentences",
    "ngrams",
    "tokenizer_from_dict",
]
