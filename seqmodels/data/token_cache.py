"""Tokenize a corpus once; keep the ids as numpy memmaps beside the JSON encoder.

Layout of one entry, ``<cache>/lm/<corpus name>-<key>/``::

    encoder.json     TextEncoder (tokenizer + vocabulary), the single source of truth for the ids
    vocab.json       the vocabulary alone, for people and other tools
    tokenizer.json   BPE only: the Hugging Face tokenizer's own JSON
    train.bin  train.json     raw ids (uint16 when the vocabulary has <= 65,536 tokens, else uint32)
    valid.bin  valid.json     and their metadata: token count, dtype, digest of encoder.json
    test.bin   test.json

``<key>`` hashes the corpus's content fingerprint, the tokenizer's settings (before training) and the
vocabulary settings, so a changed file or setting gets a fresh entry and a second run with the same
ones reads the memmaps without tokenizing anything.

Tokenizing streams: text is read in pieces (``corpus.iter_text``), turned into ids in blocks
(:mod:`seqmodels.data.token_ids`: code points for characters, the library's parallel encoder for BPE, token
strings otherwise) and appended to a temporary file, so the corpus never has to fit in memory. The train
split's vocabulary comes first: BPE's is its subword set (nothing counted), characters are counted in a pass of
their own (``bincount`` over code points) before train is encoded like any split; any other tokenizer's train
tokens are tokenized once, getting provisional ids (first-seen order) while they are counted, and the
provisional ids are then mapped to the final ones with a lookup table. Every file is written under a temporary
name and renamed into place; a ``.bin`` is trusted only when its ``.json`` exists, names the current encoder,
and the file has exactly the recorded size.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np

from ..utils.io import atomic_open, atomic_write_json, file_digest, json_digest, read_json
from .corpora.base import TextCorpus
from .encoder import TextEncoder, build_vocab
from .token_ids import count_characters, id_blocks, is_char, provisional_blocks
from .tokenizers import Tokenizer, tokenizer_from_dict

FORMAT_VERSION = 1
REMAP_BLOCK = 1 << 22  # ids remapped per step
TOKENIZE_BLOCK_CHARS = 1 << 20  # text tokenized per step (read at call time, so tests can shrink it)


def ids_dtype(vocab_size: int) -> np.dtype:
    """uint16 when every id fits in 16 bits, else uint32."""
    return np.dtype(np.uint16) if vocab_size <= 1 << 16 else np.dtype(np.uint32)


class TokenCache:
    """The cached ids of one corpus under one tokenizer and vocabulary setting.

    Args:
        corpus: a :class:`~seqmodels.data.corpora.base.TextCorpus`.
        tokenizer: the tokenizer (trained on the train split here when it is not yet trained).
        cache_dir: the cache root (an ``lm/`` folder is created in it).
        specials, max_size, min_freq: how the vocabulary is built from the train split.
        encoder: use this encoder instead of building one (e.g. the one from a checkpoint).
    """

    def __init__(
        self,
        corpus: TextCorpus,
        tokenizer: Tokenizer,
        cache_dir: str | os.PathLike[str],
        specials: Sequence[str] = ("<unk>", "<eos>"),
        max_size: int | None = None,
        min_freq: int = 1,
        encoder: TextEncoder | None = None,
    ) -> None:
        self.corpus = corpus
        self.tokenizer = tokenizer
        self.specials = tuple(specials)
        self.max_size = max_size
        self.min_freq = min_freq
        self.given_encoder = encoder
        settings: dict[str, Any] = {
            "format": FORMAT_VERSION,
            "corpus": corpus.fingerprint(),
            "tokenizer": tokenizer.to_dict(),
            "specials": list(self.specials),
            "max_size": max_size,
            "min_freq": min_freq,
            "encoder": encoder.to_dict() if encoder is not None else None,
        }
        self.key = json_digest(settings)
        self.folder = Path(cache_dir) / "lm" / f"{corpus.name or type(corpus).__name__}-{self.key[:20]}"
        self._encoder: TextEncoder | None = None
        self.timings: dict[str, float] = {}
        """Seconds spent per phase of building the cache in this process (``train_tokenizer``, ``count_train``,
        ``tokenize_train``, ``remap_train``, ``tokenize_valid``, ...); empty when everything came from the cache."""

    # ------------------------------------------------------------------ encoder

    @property
    def encoder_path(self) -> Path:
        return self.folder / "encoder.json"

    def encoder(self) -> TextEncoder:
        """The encoder: read from the cache, or given, or built from the train split (and cached)."""
        if self._encoder is None:
            if self.encoder_path.is_file():
                self._encoder = TextEncoder.from_dict(read_json(self.encoder_path))
            elif self.given_encoder is not None:
                self._write_encoder(self.given_encoder)
                self._encoder = self.given_encoder
            else:
                self._encoder = self._build_encoder_and_train_ids()
        return self._encoder

    def _write_encoder(self, encoder: TextEncoder) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.folder / "vocab.json", encoder.vocab.to_dict())
        save = getattr(encoder.tokenizer, "save", None)  # BPE: also its library's own JSON
        if callable(save):
            fd, tmp = tempfile.mkstemp(prefix=".tokenizer.", suffix=".tmp", dir=self.folder)
            os.close(fd)
            try:
                save(tmp)
                os.replace(tmp, self.folder / "tokenizer.json")
            except BaseException:
                os.unlink(tmp)
                raise
        atomic_write_json(self.encoder_path, encoder.to_dict())  # last: its presence marks the encoder as complete

    def _build_encoder_and_train_ids(self) -> TextEncoder:
        tokenizer = tokenizer_from_dict(self.tokenizer.to_dict())  # a copy: training does not touch the caller's
        if not tokenizer.is_trained:
            with self._timed("train_tokenizer"):
                tokenizer.train(self.corpus.iter_text("train"))
        self.folder.mkdir(parents=True, exist_ok=True)
        if tokenizer.vocabulary() is not None or is_char(tokenizer):
            # a closed vocabulary (BPE) needs no counts; characters are counted apart, then encoded like any split
            with self._timed("count_train"):
                counts = {} if tokenizer.vocabulary() is not None else count_characters(self.corpus.iter_text("train"))
            vocab = build_vocab(tokenizer, counts, self.specials, self.max_size, self.min_freq)
            encoder = TextEncoder(tokenizer, vocab)
            self._write_encoder(encoder)
            self._encoder = encoder
            self._encode_split("train")
            return encoder
        return self._count_and_write_train_ids(tokenizer)

    def _count_and_write_train_ids(self, tokenizer: Tokenizer) -> TextEncoder:
        """One pass over train: tokens get provisional ids while counted, then remapped to the vocabulary's."""
        index: dict[str, int] = {}
        counts = np.zeros(0, dtype=np.int64)
        fd, tmp = tempfile.mkstemp(prefix=".train.provisional.", suffix=".tmp", dir=self.folder)
        try:
            with self._timed("tokenize_train"), os.fdopen(fd, "wb") as out:
                text = self.corpus.iter_text("train")
                for prov in provisional_blocks(tokenizer, text, index, TOKENIZE_BLOCK_CHARS):
                    counts = _add_counts(counts, prov, len(index))
                    prov.tofile(out)
            token_strings = list(index)
            vocab = build_vocab(
                tokenizer, dict(zip(token_strings, counts.tolist())), self.specials, self.max_size, self.min_freq
            )
            encoder = TextEncoder(tokenizer, vocab)
            lut = _lookup_table(token_strings, encoder)
            self._write_encoder(encoder)
            self._encoder = encoder
            with self._timed("remap_train"):
                self._write_ids("train", (lut[block] for block in _read_blocks(tmp, np.uint32, REMAP_BLOCK)))
        finally:
            os.unlink(tmp)
        return encoder

    @contextmanager
    def _timed(self, phase: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[phase] = self.timings.get(phase, 0.0) + time.perf_counter() - start

    # ------------------------------------------------------------------ ids

    def _paths(self, split: str) -> tuple[Path, Path]:
        return self.folder / f"{split}.bin", self.folder / f"{split}.json"

    def _encoder_digest(self) -> str:
        return file_digest(self.encoder_path)

    def _write_ids(self, split: str, blocks: Iterable[np.ndarray]) -> None:
        encoder = self.encoder()
        dtype = ids_dtype(len(encoder.vocab))
        bin_path, meta_path = self._paths(split)
        total = 0
        with atomic_open(bin_path) as out:
            for block in blocks:
                arr = np.asarray(block).astype(dtype, copy=False)
                arr.tofile(out)
                total += len(arr)
        atomic_write_json(
            meta_path,
            {
                "split": split,
                "tokens": total,
                "dtype": dtype.name,
                "encoder": self._encoder_digest(),
                "corpus": self.corpus.name,
            },
        )

    def _encode_split(self, split: str) -> None:
        encoder = self.encoder()
        dtype = ids_dtype(len(encoder.vocab))
        with self._timed(f"tokenize_{split}"):
            self._write_ids(split, id_blocks(encoder, self.corpus.iter_text(split), dtype, TOKENIZE_BLOCK_CHARS))

    def is_cached(self, split: str) -> bool:
        """Whether ``split``'s ids are complete on disk for the current encoder."""
        bin_path, meta_path = self._paths(split)
        if not (bin_path.is_file() and meta_path.is_file() and self.encoder_path.is_file()):
            return False
        meta = read_json(meta_path)
        return (
            meta.get("encoder") == self._encoder_digest()
            and bin_path.stat().st_size == meta["tokens"] * np.dtype(meta["dtype"]).itemsize
        )

    def prepare(self, split: str) -> None:
        """Tokenize and cache ``split`` unless it is already cached."""
        self.encoder()
        if not self.is_cached(split):
            self._encode_split(split)

    def ids(self, split: str) -> np.ndarray:
        """The split's ids as a read-only memmap (tokenized and cached first when needed)."""
        self.prepare(split)
        bin_path, meta_path = self._paths(split)
        meta = read_json(meta_path)
        if meta["tokens"] == 0:
            return np.zeros(0, dtype=meta["dtype"])
        return np.memmap(bin_path, dtype=meta["dtype"], mode="r", shape=(meta["tokens"],))


def _read_blocks(path: str | os.PathLike[str], dtype: Any, count: int) -> Iterator[np.ndarray]:
    """The values of a raw file in blocks of ``count`` (plain reads: a memmap would keep every page it touched
    resident, as much memory as the file)."""
    with open(path, "rb") as f:
        while len(block := np.fromfile(f, dtype=dtype, count=count)):
            yield block


def _add_counts(counts: np.ndarray, ids: np.ndarray, size: int) -> np.ndarray:
    """``counts`` grown to ``size`` plus the occurrences of ``ids``."""
    if len(counts) < size:
        counts = np.concatenate([counts, np.zeros(size - len(counts), dtype=np.int64)])
    if len(ids):
        counts += np.bincount(ids, minlength=size)
    return counts


def _lookup_table(token_strings: list[str], encoder: TextEncoder) -> np.ndarray:
    """provisional id -> final id; tokens left out of the vocabulary map to ``<unk>``."""
    vocab = encoder.vocab
    dtype = ids_dtype(len(vocab))
    unk = vocab.unk_index
    if unk is None:
        missing = [t for t in token_strings if t not in vocab.stoi]
        if missing:
            raise ValueError(
                f"{len(missing)} train tokens (e.g. {missing[:3]}) are not in the vocabulary (max_size/min_freq) "
                f"and it has no <unk> token: add '<unk>' to specials"
            )
    return np.fromiter(map(vocab.stoi.get, token_strings, repeat(unk)), dtype=dtype, count=len(token_strings))
