"""Text read in pieces -> token counts and vocabulary ids as numpy blocks: the inner loops of the token cache.

Three ways, chosen by the tokenizer (each gives exactly the ids of ``vocab.encode(tokenizer.tokenize(text))``):

* :class:`~seqmodels.data.tokenizers.CharTokenizer`: a character's Unicode code point is read straight from the
  text's UTF-32 bytes (``numpy.frombuffer``); counted with ``bincount``, mapped to ids by a lookup table over
  code points. No Python object per character.
* :class:`~seqmodels.data.bpe.BPETokenizer`: the library's parallel ``encode_batch`` on pieces of a few kB,
  its ids mapped to the vocabulary's by a lookup table. A background thread encodes the next block while this
  one reads the text and converts the last block's ids (the library releases the GIL while it encodes), so the
  reading and converting overlap the encoding. Nothing is counted: a BPE vocabulary is its closed subword set.
* any other tokenizer: its token strings, looked up in a dict at C speed (``map``). Counting the train tokens
  (:func:`provisional_blocks`) past the first :data:`PARALLEL_AFTER_CHARS` characters runs in :data:`WORKERS`
  forked processes, each with an index of its own, merged into the parent's as their blocks come back in order.

The first two need a vocabulary with ``<unk>`` (or, for BPE, none at all); without one the strings' way is
taken, which raises the vocabulary's own error for an unknown token.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import islice, repeat
from typing import Any, cast

import numpy as np

from .bpe import BPETokenizer
from .encoder import TextEncoder
from .tokenizer_base import Tokenizer, iter_pieces
from .tokenizers import CharTokenizer

UNICODE_SIZE = 0x110000
"""Code points are below this."""

BPE_BLOCK_CHARS = 1 << 20
"""BPE encodes about this many characters per call (in pieces of ``bpe.PARALLEL_PIECE``, in parallel)."""


PARALLEL_AFTER_CHARS = 32 << 20
"""Train text past this many characters is tokenized by :data:`WORKERS` processes (a small text never starts one)."""

WORKERS = min(2, os.cpu_count() or 1)


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
        yield from _bpe_id_blocks(cast(BPETokenizer, tokenizer), encoder, chunks, dtype)
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


def provisional_ids(tokens: list[str], index: dict[str, int], dtype: Any = np.int64) -> np.ndarray:
    """Ids of ``tokens`` in ``index`` (token -> provisional id), adding unseen tokens to it.

    Runs at C speed (no Python loop over tokens). The ids of new tokens follow set order, which
    varies between processes; only counts and the final vocabulary ids matter, and those do not.
    """
    new = set(tokens).difference(index)
    if new:
        index.update(zip(new, range(len(index), len(index) + len(new))))
    return np.fromiter(map(index.__getitem__, tokens), dtype=dtype, count=len(tokens))


def provisional_blocks(
    tokenizer: Tokenizer, chunks: Iterable[str], index: dict[str, int], block_chars: int
) -> Iterator[np.ndarray]:
    """:func:`provisional_ids` (uint32) of ``tokenizer.iter_tokenize(chunks, block_chars)``'s blocks, in order.

    Past :data:`PARALLEL_AFTER_CHARS` characters the pieces are tokenized by :data:`WORKERS` forked processes
    (when the tokenizer cuts its text as :class:`Tokenizer` does, and processes can be forked): each gives its
    tokens ids of its own and sends back the ids and the tokens it met first, which this process adds to
    ``index`` and maps through that worker's table. A worker's blocks come back in the order it took them, so
    its new tokens arrive in the order it numbered them.
    """
    parallel = (
        WORKERS > 1
        and type(tokenizer).iter_tokenize is Tokenizer.iter_tokenize
        and "fork" in multiprocessing.get_all_start_methods()
    )
    if not parallel:
        for tokens in tokenizer.iter_tokenize(chunks, block_chars):
            yield provisional_ids(tokens, index, np.uint32)
        return
    pieces = iter_pieces(chunks, block_chars)
    done = 0
    for piece in pieces:
        yield provisional_ids(tokenizer.tokenize(piece), index, np.uint32)
        done += len(piece)
        if done > PARALLEL_AFTER_CHARS:
            break
    else:
        return
    tables: dict[int, np.ndarray] = {}
    context = multiprocessing.get_context("fork")
    with context.Pool(WORKERS, _start_worker, (tokenizer.to_dict(),)) as pool:
        pending = deque(pool.apply_async(_worker_ids, (piece,)) for piece in islice(pieces, 2 * WORKERS))
        while pending:
            pid, ids, new = pending.popleft().get()
            following = next(pieces, None)
            if following is not None:
                pending.append(pool.apply_async(_worker_ids, (following,)))
            if new:
                known = [index.setdefault(token, len(index)) for token in new]
                tables[pid] = np.concatenate([tables.get(pid, np.zeros(0, np.uint32)), np.asarray(known, np.uint32)])
            yield tables[pid][ids] if len(ids) else ids


_WORKER: dict[str, Any] = {}


def _start_worker(tokenizer: dict[str, Any]) -> None:
    from .tokenizers import tokenizer_from_dict

    _WORKER["tokenizer"] = tokenizer_from_dict(tokenizer)
    _WORKER["index"] = {}


def _worker_ids(piece: str) -> tuple[int, np.ndarray, list[str]]:
    """(this worker's pid, the piece's token ids in its own index, the tokens new to that index in id order)."""
    index = _WORKER["index"]
    tokens = _WORKER["tokenizer"].tokenize(piece)
    new = [token for token in set(tokens) if token not in index]
    index.update(zip(new, range(len(index), len(index) + len(new))))
    return os.getpid(), np.fromiter(map(index.__getitem__, tokens), dtype=np.uint32, count=len(tokens)), new
