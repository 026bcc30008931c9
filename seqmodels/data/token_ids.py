"""Text read in pieces -> token counts and vocabulary ids as numpy blocks: the inner loops of the token cache.

Three ways, chosen by the tokenizer (each gives exactly the ids of ``vocab.encode(tokenizer.tokenize(text))``):

* :class:`~seqmodels.data.tokenizers.CharTokenizer`: a character's Unicode code point is read straight from the
  text's UTF-32 bytes (``numpy.frombuffer``); counted with ``bincount``, mapped to ids by a lookup table over
  code points. No Python object per character.
* :class:`~seqmodels.data.bpe.BPETokenizer`: the library's parallel ``encode_batch`` on pieces of a few kB,
  its ids mapped to the vocabulary's by a lookup table. A background thread encodes the next block while this
  one reads the text and converts the last block's ids (the library releases the GIL while it encodes), so the
  reading and converting overlap the encoding. Nothing is counted: a BPE vocabulary is its closed subword set.
* any other tokenizer: its token strings, looked up in a dict at C speed (``map``).

The first two need a vocabulary with ``<unk>`` (or, for BPE, none at all); without one the strings' way is
taken, which raises the vocabulary's own error for an unknown token.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import repeat

import numpy as np

from .bpe import BPETokenizer
from .encoder import TextEncoder
from .tokenizer_base import Tokenizer, iter_pieces
from .tokenizers import CharTokenizer

UNICODE_SIZE = 0x110000
"""Code points are below this."""

BPE_BLOCK_CHARS = 1 << 20
"""BPE encodes about this many characters per call (in pieces of ``bpe.PARALLEL_PIECE``, in parallel)."""


def code_points(text: str) -> np.ndarray:
    """``[ord(c) for c in text]`` as uint32, at C speed (``text`` has no lone surrogates: it was decoded)."""
    return np.frombuffer(text.encode("utf-32-le"), dtype="<u4")


def is_char(tokenizer: Tokenizer) -> bool:
    return type(tokenizer) is CharTokenizer  # a subclass may tokenize otherwise


def is_bpe(tokenizer: Tokenizer) -> bool:
    return type(tokenizer) is BPETokenizer


def count_characters(chunks: Iterable[str]) -> dict[str, int]:
    """How often each character occurs in the text of ``chunks``: ``collections.Counter("".join(chunks))``."""
    counts = np.zeros(0, dtype=np.int64)
    for chunk in chunks:
        found = np.bincount(code_points(chunk))
        if len(found) > len(counts):
            counts = np.concatenate([counts, np.zeros(len(found) - len(counts), dtype=np.int64)])
        counts[: len(found)] += found
    return {chr(c): int(counts[c]) for c in np.flatnonzero(counts)}


def id_blocks(encoder: TextEncoder, chunks: Iterable[str], dtype: np.dtype, block_chars: int) -> Iterator[np.ndarray]:
    """The ids of the text of ``chunks`` under ``encoder``, in blocks (their concatenation is the whole text's)."""
    tokenizer, vocab = encoder.tokenizer, encoder.vocab
    if is_char(tokenizer) and vocab.unk_index is not None:
        lut = np.full(UNICODE_SIZE, vocab.unk_index, dtype=dtype)
        for token, index in vocab.stoi.items():
            if len(token) == 1:
                lut[ord(token)] = index
        for chunk in chunks:
            yield lut[code_points(chunk)]
    elif is_bpe(tokenizer):
        yield from _bpe_id_blocks(tokenizer, encoder, chunks, dtype)
    else:
        stoi, unk = vocab.stoi, vocab.unk_index
        for tokens in tokenizer.iter_tokenize(chunks, block_chars):
            if unk is not None:
                yield np.fromiter(map(stoi.get, tokens, repeat(unk)), dtype=dtype, count=len(tokens))
            else:
                yield np.asarray(vocab.encode(tokens), dtype=dtype)


def _bpe_id_blocks(
    tokenizer: BPETokenizer, encoder: TextEncoder, chunks: Iterable[str], dtype: np.dtype
) -> Iterator[np.ndarray]:
    subwords = tokenizer.vocabulary()
    stoi = encoder.vocab.stoi
    missing = [t for t in subwords if t not in stoi]
    if missing:
        raise ValueError(f"{len(missing)} BPE subwords (e.g. {missing[:3]}) are not in the encoder's vocabulary")
    lut = np.array([stoi[t] for t in subwords], dtype=dtype)  # library id -> vocabulary id
    with ThreadPoolExecutor(1, thread_name_prefix="bpe-encode") as pool:
        pending: Future[np.ndarray] | None = None
        try:
            for piece in iter_pieces(chunks, BPE_BLOCK_CHARS):
                submitted = pool.submit(tokenizer.encode_ids, piece)
                if pending is not None:
                    yield lut[pending.result()]
                pending = submitted
            if pending is not None:
                yield lut[pending.result()]
                pending = None
        finally:
            if pending is not None:
                pending.cancel()
