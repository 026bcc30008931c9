"""Batching shared by the sequence DataModules: a dataset of ``(sequence, label)`` pairs, length
bucketing, and the DataLoader of a split (:func:`split_loader`).

Bucketing groups sequences of similar length into a batch so little compute is spent on padding:
the shuffled indices are cut into pools of ``pool_factor * batch_size``, each pool is sorted by
length and cut into batches, and the batch order is shuffled.

Under distributed training Lightning swaps the sampler for a ``DistributedSampler`` (also inside
:class:`BucketBatchSampler`, which follows ``BatchSampler``'s ``sampler`` argument), so each rank
reads its own part of the data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, Sampler, SequentialSampler

from .resumable import ResumableDataLoader


class SequenceDataset(Dataset):
    """``(sequence, label)`` pairs: sequences are 1-D int arrays or 2-D float arrays (T, F)."""

    def __init__(self, sequences: Sequence[np.ndarray], labels: Sequence[Any]) -> None:
        if len(sequences) != len(labels):
            raise ValueError(f"{len(sequences)} sequences but {len(labels)} labels")
        self.sequences = list(sequences)
        self.labels = list(labels)

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, i: int) -> tuple[np.ndarray, Any]:
        return self.sequences[i], self.labels[i]

    def __getitems__(self, indices: Sequence[int]) -> list[tuple[np.ndarray, Any]]:
        """A batch's items in one call (the DataLoader's batched fetch), rather than one call per item."""
        sequences, labels = self.sequences, self.labels
        return [(sequences[i], labels[i]) for i in indices]

    def lengths(self) -> list[int]:
        return [len(s) for s in self.sequences]


class BucketBatchSampler(BatchSampler):
    """Batches of similar-length sequences (see the module docstring).

    Args:
        sampler: yields dataset indices (random for training; Lightning may swap in a distributed one).
        batch_size: sequences per batch.
        drop_last: drop the last incomplete batch.
        lengths: length of every dataset item.
        pool_factor: pools of ``pool_factor * batch_size`` indices are sorted by length.
        shuffle: shuffle the order of the batches (training); deterministic from ``seed`` and the
            number of times this sampler has been iterated (the epoch).
        seed: seeds the batch-order shuffle.
    """

    def __init__(
        self,
        sampler: Sampler[int] | Sequence[int],
        batch_size: int,
        drop_last: bool,
        lengths: Sequence[int],
        pool_factor: int = 50,
        shuffle: bool = True,
        seed: int = 0,
    ) -> None:
        super().__init__(sampler, batch_size, drop_last)
        if pool_factor < 1:
            raise ValueError(f"pool_factor must be >= 1, got {pool_factor!r}")
        self.lengths = list(lengths)
        self.pool_factor = pool_factor
        self.shuffle = shuffle
        self.seed = seed
        self._iterations = 0

    def __iter__(self) -> Iterator[list[int]]:
        indices = list(self.sampler)
        pool = self.batch_size * self.pool_factor
        batches: list[list[int]] = []
        for p in range(0, len(indices), pool):
            chunk = sorted(indices[p : p + pool], key=self.lengths.__getitem__)
            batches.extend(chunk[j : j + self.batch_size] for j in range(0, len(chunk), self.batch_size))
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        if self.shuffle:
            order = np.random.default_rng([self.seed, self._iterations]).permutation(len(batches))
            batches = [batches[i] for i in order]
        self._iterations += 1
        yield from batches


def split_loader(
    datasets: Mapping[str, Any],
    split: str,
    owner: str,
    batch_size: int,
    collate: Callable[[list[Any]], Any],
    *,
    train: bool,
    seed: int,
    bucket: bool,
    pool_factor: int,
    num_workers: int,
    resumable: bool = False,
) -> DataLoader:
    """The DataLoader of ``datasets[split]`` (each dataset has ``lengths()`` for bucketing).

    Training loaders visit the items in a random order seeded by ``seed``, evaluation loaders in
    order; with ``bucket`` the items are batched by :class:`BucketBatchSampler` (batch order
    shuffled only in training), otherwise ``batch_size`` items at a time.

    Args:
        datasets: split name -> dataset.
        split: the split to serve; ``ValueError`` naming ``owner`` and the splits there are when missing.
        owner: names the data in that message (e.g. the corpus).
        resumable: the training loader is a :class:`~seqmodels.data.resumable.ResumableDataLoader`,
            and every loader draws the seed of each iteration from its own generator, never from the
            global RNG, so that a resumed run continues exactly.
    """
    if split not in datasets:
        raise ValueError(f"{owner} has no {split!r} split (it has {sorted(datasets)})")
    dataset = datasets[split]
    sampler: Sampler[int]
    if train:
        sampler = RandomSampler(dataset, generator=torch.Generator().manual_seed(seed))
    else:
        sampler = SequentialSampler(dataset)
    options: dict[str, Any] = {"collate_fn": collate, "num_workers": num_workers}
    if resumable:
        options["generator"] = torch.Generator().manual_seed(seed)
    loader = ResumableDataLoader if resumable and train else DataLoader
    if bucket:
        lengths = dataset.lengths()
        batches = BucketBatchSampler(sampler, batch_size, False, lengths, pool_factor, shuffle=train, seed=seed)
        return loader(dataset, batch_sampler=batches, **options)
    return loader(dataset, batch_size=batch_size, sampler=sampler, **options)
