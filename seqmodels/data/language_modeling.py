"""Language-modeling batches from cached token ids: contiguous streams (truncated BPTT) or random windows.

Contiguous streams (``contiguous=True``, Zaremba et al. 2014; pytorch/examples ``batchify``): a
split's N ids are cut into B equal streams laid out as rows of a (B, N // B) matrix, and batch k
holds columns ``[k * bptt, (k + 1) * bptt]``::

    inputs  = streams[:, k*bptt     : k*bptt + T]      # (B, T), T = bptt (the last batch may be shorter)
    targets = streams[:, k*bptt + 1 : k*bptt + T + 1]  # (B, T), inputs shifted by one

so row b of batch k + 1 continues row b of batch k, and a model may carry its hidden state from one
batch to the next (detached: truncated backpropagation through time).

Random windows (``contiguous=False``): each batch holds B windows of bptt + 1 ids at uniformly
random offsets; an epoch has about N / (B * bptt) batches, so it sees about N tokens. Validation and
test always use contiguous streams, so every token is scored once.

Under distributed training each rank reads its own contiguous shard, ``ids[r * N // W : (r + 1) * N // W]``,
so all ranks have the same number of batches.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from .cache import resolve_cache_dir
from .corpora.base import TextCorpus
from .encoder import TextEncoder
from .resumable import ResumableDataLoader, ResumableTrainData
from .token_cache import TokenCache
from .tokenizers import CharTokenizer, Tokenizer
from .vocab import EOS, UNK, Vocab


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


class TokenArray:
    """A picklable handle on a 1-D id array: a memmap is reopened (not copied) in each worker process."""

    def __init__(self, array: np.ndarray) -> None:
        self._array: np.ndarray | None = array
        self.filename: str | None = getattr(array, "filename", None)  # a memmap's file
        self.dtype = array.dtype
        self.length = len(array)

    def __len__(self) -> int:
        return self.length

    def array(self) -> np.ndarray:
        if self._array is None:
            assert self.filename is not None  # only a memmap's array is dropped (__getstate__)
            self._array = np.memmap(self.filename, dtype=self.dtype, mode="r", shape=(self.length,))
        return self._array

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        if self.filename is not None:
            state["_array"] = None  # reopen the memmap instead of pickling its contents
        return state


def shard_bounds(n: int, rank: int, world_size: int) -> tuple[int, int]:
    """``[start, stop)`` of rank ``rank``'s contiguous shard: ``n // world_size`` ids each."""
    size = n // world_size
    return rank * size, (rank + 1) * size


def _worker_slice() -> tuple[int, int]:
    info = get_worker_info()
    return (0, 1) if info is None else (info.id, info.num_workers)


class StreamBatches(IterableDataset):
    """Contiguous-stream batches over ``ids[start:stop]`` (see the module docstring).

    Yields ``(inputs, targets)``, LongTensors (B, T). With DataLoader workers, worker w yields batches
    w, w + W, ... and the DataLoader interleaves them back into order.
    """

    def __init__(self, ids: TokenArray, batch_size: int, bptt: int, start: int = 0, stop: int | None = None) -> None:
        self.ids = ids
        self.batch_size = _positive_int("batch_size", batch_size)
        self.bptt = _positive_int("bptt", bptt)
        self.start = start
        self.stop = len(ids) if stop is None else stop
        n = self.stop - self.start
        self.steps = n // self.batch_size  # length of each stream
        if self.steps < 2:
            raise ValueError(
                f"{n} tokens are too few for batch_size={batch_size}: "
                f"each of the {batch_size} streams needs at least 2 tokens"
            )

    def __len__(self) -> int:
        return math.ceil((self.steps - 1) / self.bptt)

    def batch(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Batch number ``k``."""
        B, S = self.batch_size, self.steps
        streams = self.ids.array()[self.start : self.start + B * S].reshape(B, S)  # (B, S) view, nothing read yet
        i = k * self.bptt
        T = min(self.bptt, S - 1 - i)
        chunk = streams[:, i : i + T + 1].astype(np.int64)  # (B, T + 1): B reads of T + 1 ids
        return torch.from_numpy(np.ascontiguousarray(chunk[:, :-1])), torch.from_numpy(
            np.ascontiguousarray(chunk[:, 1:])
        )

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        worker, workers = _worker_slice()
        for k in range(worker, len(self), workers):
            yield self.batch(k)


class WindowBatches(IterableDataset):
    """Random-window batches over ``ids[start:stop]``: B windows of ``bptt + 1`` ids at random offsets.

    Deterministic given ``seed``, the epoch and the rank: epoch e draws its offsets from
    ``numpy.random.default_rng([seed, e, rank])``. The epoch counts the iterations of this object
    (or is set with :meth:`set_epoch`).
    """

    def __init__(
        self,
        ids: TokenArray,
        batch_size: int,
        bptt: int,
        start: int = 0,
        stop: int | None = None,
        seed: int = 0,
        rank: int = 0,
    ) -> None:
        self.ids = ids
        self.batch_size = _positive_int("batch_size", batch_size)
        self.bptt = _positive_int("bptt", bptt)
        self.start = start
        self.stop = len(ids) if stop is None else stop
        self.seed = seed
        self.rank = rank
        self.epoch = 0
        n = self.stop - self.start
        if n < self.bptt + 1:
            raise ValueError(f"{n} tokens are too few for a window of bptt + 1 = {self.bptt + 1}")
        self.num_batches = max(1, (n - 1) // (self.batch_size * self.bptt))

    def __len__(self) -> int:
        return self.num_batches

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def offsets(self, epoch: int) -> np.ndarray:
        """(num_batches, B) window starts of ``epoch``, relative to ``start``."""
        rng = np.random.default_rng([self.seed, epoch, self.rank])
        return rng.integers(0, self.stop - self.start - self.bptt, size=(self.num_batches, self.batch_size))

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        offsets = self.offsets(self.epoch)
        self.epoch += 1
        ids = self.ids.array()
        span = np.arange(self.bptt + 1)
        worker, workers = _worker_slice()
        for k in range(worker, self.num_batches, workers):
            chunk = ids[self.start + offsets[k][:, None] + span].astype(np.int64)  # (B, bptt + 1)
            yield (
                torch.from_numpy(np.ascontiguousarray(chunk[:, :-1])),
                torch.from_numpy(np.ascontiguousarray(chunk[:, 1:])),
            )


class LanguageModelingDataModule(ResumableTrainData, L.LightningDataModule):
    """Next-token prediction batches from a text corpus, tokenized once and cached as memmaps.

    Args:
        corpus: a :class:`~seqmodels.data.corpora.base.TextCorpus` (``read``/``iter_text`` per split).
        tokenizer: how text becomes tokens (default :class:`CharTokenizer`); an untrained BPE is trained
            on the train split.
        batch_size: B, parallel streams (or windows) per training batch.
        bptt: T, time steps per batch (truncated-BPTT length).
        eval_batch_size: B for validation/test (default ``batch_size``).
        max_vocab_size: largest vocabulary, specials included (most frequent train tokens kept).
        min_freq: drop train tokens seen fewer times.
        cache_dir: cache root (default ``$SEQMODELS_CACHE_DIR`` or ``~/.cache/seqmodels``).
        contiguous: contiguous streams (carry the state across batches) or random windows.
        num_workers: DataLoader worker processes (0 is fast enough: batches are memmap slices).
        specials: special tokens of the vocabulary, placed first.
        encoder: a :class:`TextEncoder` (or its dict, e.g. from a checkpoint) to use instead of building one.
        seed: seeds the random windows.

    After ``setup()``: ``encoder``, ``vocab``, ``vocab_size``, ``contiguous``, ``bptt``; ``ids(split)``
    is a split's whole id array. Batches: ``(inputs, targets)``, LongTensors (B, T).
    """

    datasets_shard_by_worker = True
    """Its iterable datasets hand each DataLoader worker its own batches (worker w: batches w, w + W, ...), so
    their ``__len__`` holds with any ``num_workers`` (Lightning warns that it may not; the commands say nothing). A
    subclass whose ``_dataset`` returns datasets that do not shard by worker sets it to False."""

    def __init__(
        self,
        corpus: TextCorpus,
        tokenizer: Tokenizer | None = None,
        batch_size: int = 20,
        bptt: int = 35,
        eval_batch_size: int | None = None,
        max_vocab_size: int | None = None,
        min_freq: int = 1,
        cache_dir: str | os.PathLike[str] | None = None,
        contiguous: bool = True,
        num_workers: int = 0,
        specials: Sequence[str] = (UNK, EOS),
        encoder: TextEncoder | dict[str, Any] | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if not isinstance(corpus, TextCorpus):
            raise ValueError(f"corpus must be a TextCorpus (read/iter_text per split), got {type(corpus).__name__}")
        if isinstance(encoder, dict):
            encoder = TextEncoder.from_dict(encoder)
        if encoder is not None and not isinstance(encoder, TextEncoder):
            raise ValueError(f"encoder must be a TextEncoder or its dict, got {type(encoder).__name__}")
        if tokenizer is None:
            tokenizer = encoder.tokenizer if encoder is not None else CharTokenizer()
        if not isinstance(tokenizer, Tokenizer):
            raise ValueError(f"tokenizer must be a Tokenizer, got {type(tokenizer).__name__}")
        if not isinstance(contiguous, bool):
            raise ValueError(f"contiguous must be True or False, got {contiguous!r}")
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"num_workers must be an integer >= 0, got {num_workers!r}")
        if max_vocab_size is not None and (
            isinstance(max_vocab_size, bool) or not isinstance(max_vocab_size, int) or max_vocab_size < len(specials)
        ):
            raise ValueError(
                f"max_vocab_size must be None or an integer >= {len(specials)} (the number of specials "
                f"{list(specials)}), got {max_vocab_size!r}"
            )
        _positive_int("min_freq", min_freq)
        self.corpus = corpus
        self.tokenizer = tokenizer
        self.batch_size = _positive_int("batch_size", batch_size)
        self.bptt = _positive_int("bptt", bptt)
        self.eval_batch_size = _positive_int(
            "eval_batch_size", eval_batch_size if eval_batch_size is not None else batch_size
        )
        self.max_vocab_size = max_vocab_size
        self.min_freq = min_freq
        self.cache_dir = resolve_cache_dir(cache_dir)
        self.contiguous = contiguous
        self.num_workers = num_workers
        self.specials = tuple(specials)
        self.given_encoder = encoder
        self.seed = seed
        self.encoder: TextEncoder | None = None
        self.vocab: Vocab | None = None
        self._cache: TokenCache | None = None
        self._ids: dict[str, TokenArray] = {}

    # ------------------------------------------------------------------ preparation

    def token_cache(self) -> TokenCache:
        """The :class:`TokenCache` entry for this corpus and these settings."""
        if self._cache is None:
            self._cache = TokenCache(
                self.corpus,
                self.tokenizer,
                self.cache_dir,
                self.specials,
                self.max_vocab_size,
                self.min_freq,
                self.given_encoder,
            )
        return self._cache

    def prepare_data(self) -> None:
        """Tokenize and cache every split (once per machine; later runs find the cache).

        A split whose file is missing is skipped here (``setup`` raises if a stage needs it), except
        train when the vocabulary still has to be built from it.
        """
        cache = self.token_cache()
        cache.encoder()
        for split in self.corpus.splits:
            try:
                cache.prepare(split)
            except FileNotFoundError:
                if split == "train" and self.given_encoder is None:
                    raise

    def setup(self, stage: str | None = None) -> None:
        needed = {"fit": ("train", "valid"), "validate": ("valid",), "test": ("test",), "predict": ("test",)}
        for split in needed.get(stage or "", tuple(self.corpus.splits)):
            self.ids(split)

    @property
    def vocab_size(self) -> int | None:
        """``len(vocab)``; None until ``setup()`` has built or loaded the vocabulary."""
        return len(self.vocab) if self.vocab is not None else None

    def ids(self, split: str) -> np.ndarray:
        """The split's whole id array (a read-only memmap), tokenized and cached when needed."""
        if split not in self._ids:
            cache = self.token_cache()
            if self.encoder is None:
                self.encoder = cache.encoder()
                self.vocab = self.encoder.vocab
            self._ids[split] = TokenArray(cache.ids(split))
        return self._ids[split].array()

    # ------------------------------------------------------------------ loaders

    def _rank_world(self) -> tuple[int, int]:
        trainer = getattr(self, "trainer", None)
        if trainer is None:
            return 0, 1
        return int(trainer.global_rank), int(trainer.world_size)

    def _loader(self, dataset: IterableDataset, loader: type[DataLoader] = DataLoader) -> DataLoader:
        # an own generator: iterating never draws from the global RNG (a resumed run's dropout continues exactly)
        return loader(
            dataset,
            batch_size=None,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            generator=torch.Generator().manual_seed(self.seed),
        )

    def _dataset(self, split: str, batch_size: int, random_windows: bool) -> IterableDataset:
        self.ids(split)
        ids = self._ids[split]
        rank, world = self._rank_world()
        start, stop = shard_bounds(len(ids), rank, world)
        if random_windows:
            return WindowBatches(ids, batch_size, self.bptt, start, stop, seed=self.seed, rank=rank)
        return StreamBatches(ids, batch_size, self.bptt, start, stop)

    def train_dataloader(self) -> DataLoader:
        dataset = self._dataset("train", self.batch_size, random_windows=not self.contiguous)
        return self.resumable(self._loader(dataset, ResumableDataLoader))  # its position goes into checkpoints

    def val_dataloader(self) -> DataLoader:
        return self._loader(self._dataset("valid", self.eval_batch_size, random_windows=False))

    def test_dataloader(self) -> DataLoader:
        return self._loader(self._dataset("test", self.eval_batch_size, random_windows=False))
