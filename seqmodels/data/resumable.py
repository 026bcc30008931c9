"""A training DataLoader that can continue an epoch in the middle, and the DataModule side of it.

A run killed after batch b of pass (epoch) p must, when resumed, see exactly the batches the
uninterrupted run would have seen next: batch b + 1 of pass p, in pass p's order. The loader knows
its :meth:`~ResumableDataLoader.position` ``{"pass": p, "batches": b}``; :class:`ResumableTrainData`
(a mixin for LightningDataModules) stores it in every checkpoint through the DataModule's
``state_dict()`` hook and hands it to the next training loader it builds after ``load_state_dict()``.

Resuming at ``{"pass": p, "batches": b}``:

1. the passes before p are *replayed without loading data*: for a map-style dataset the index
   sampler is iterated to its end, as every pass of the original run that reached its last batch was
   (a seeded ``RandomSampler``/``BucketBatchSampler`` advances its generator exactly as there), and the
   draw every DataLoader iterator makes from the loader's generator is repeated; an iterable dataset with
   ``set_epoch`` (e.g. :class:`~seqmodels.data.language_modeling.WindowBatches`) is told the pass number
   at every pass;
2. pass p starts, and its first b batches are read and dropped before the first one is handed out;
3. a position saved at the end of a pass (``complete``) resumes at the start of pass p + 1.

During fitting, b is the number of batches the trainer has begun, which is one fewer than the loader
handed out when Lightning reads ahead to find the end of a pass of unknown length; and when the trainer takes
fewer batches from each pass than the loader has (``limit_train_batches``), the position holds that number
(``per_pass``), and the replay takes as many. (A worker's read-ahead may still have run such a pass's sampler
to its end when the limit is within ``num_workers * prefetch_factor`` batches of the length.)

Data orders that come from the global torch RNG (an unseeded ``RandomSampler``) cannot be
replayed; the project's data modules seed their own generators.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch.utils.data import DataLoader, IterableDataset


def _check_position(position: Any) -> dict[str, Any]:
    if not isinstance(position, Mapping):
        raise ValueError(f"a loader position must be a dict with 'pass' and 'batches', got {position!r}")
    out: dict[str, Any] = {}
    for key in ("pass", "batches"):
        value = position.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < (-1 if key == "pass" else 0):
            raise ValueError(
                f"loader position {key!r} must be an integer >= {-1 if key == 'pass' else 0}, got {value!r}"
            )
        out[key] = value
    out["complete"] = bool(position.get("complete", False))
    per_pass = position.get("per_pass")
    if per_pass is not None and (isinstance(per_pass, bool) or not isinstance(per_pass, int) or per_pass < 1):
        raise ValueError(f"loader position 'per_pass' must be an integer >= 1, got {per_pass!r}")
    out["per_pass"] = per_pass
    return out


_PASS_END = object()  # what an exhausted iterator gives ``next``


class ResumableDataLoader(DataLoader):
    """``torch.utils.data.DataLoader`` (same arguments) that can resume in the middle of a pass.

    ``position()`` -> ``{"pass": p, "batches": b}``: pass p (0-based; -1 before the first) has
    handed out b batches. ``resume_from(position)`` makes the next ``iter()`` continue from there.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pass = -1
        self._yielded = 0
        self._pending: dict[str, Any] | None = None

    def position(self) -> dict[str, int]:
        return {"pass": self._pass, "batches": self._yielded}

    def resume_from(self, position: Mapping[str, Any]) -> None:
        """Continue from ``position`` at the next ``iter()`` (see the module docstring)."""
        self._pending = _check_position(position)

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]  # torch's stub names its own iterator class
        pending, self._pending = self._pending, None
        skip = 0
        if pending is not None and pending["pass"] >= 0:
            target, skip = pending["pass"], pending["batches"]
            if pending["complete"] or (self._has_len() and skip >= len(self)):
                target, skip = target + 1, 0
            self._replay_until(target, pending["per_pass"])
        self._pass += 1
        self._set_epoch(self._pass)
        iterator = super().__iter__()  # now, not lazily: it draws from the RNGs in the original order
        self._yielded = 0
        for _ in range(skip):
            try:
                next(iterator)
            except StopIteration:
                raise ValueError(
                    f"cannot resume at batch {skip} of pass {self._pass}: this loader has only {self._yielded} "
                    "batches per pass (the data or batch size differ from the run that wrote the checkpoint)"
                ) from None
            self._yielded += 1
        return self._counted(iterator)

    def _counted(self, iterator: Iterator[Any]) -> Iterator[Any]:
        """The pass's batches, counted; a map-style pass asks its iterator once more before handing out its
        last batch (by ``len``), so that a shuffled sampler has drawn all it draws in a pass by then.

        A trainer that knows the length stops after the last batch, but a shuffled sampler draws from its
        generator once more when it is asked past its end (``RandomSampler`` a permutation, for a remainder
        that may be empty). Whether a pass ended that way would otherwise depend on who iterated it (a trainer,
        a worker's read-ahead, the replay of :meth:`_replay_until`), and the next pass's order with it. Only
        indices are drawn; should a batch sampler's ``len`` be short, the batch that comes is handed out next.
        """
        per_pass = len(self) if not isinstance(self.dataset, IterableDataset) and self._has_len() else None
        ahead: list[Any] = []
        while True:
            batch = ahead.pop() if ahead else next(iterator, _PASS_END)
            if batch is _PASS_END:
                return
            self._yielded += 1
            if self._yielded == per_pass:
                after = next(iterator, _PASS_END)
                if after is not _PASS_END:
                    ahead.append(after)
            yield batch

    def _has_len(self) -> bool:
        try:
            len(self)
        except TypeError:
            return False
        return True

    def _replay_until(self, target: int, per_pass: int | None = None) -> None:
        """Advance every per-pass random state as passes ``self._pass + 1 .. target - 1`` would, each to its end
        or, when the trainer took only ``per_pass`` batches of each (``limit_train_batches``), that far."""
        iterable = isinstance(self.dataset, IterableDataset)
        while self._pass + 1 < target:
            torch.empty((), dtype=torch.int64).random_(generator=self.generator)  # the iterator's base seed
            if not iterable:  # indices only: no data is loaded
                for _ in itertools.islice(self._index_sampler, per_pass):
                    pass
            self._pass += 1

    def _set_epoch(self, epoch: int) -> None:
        """An iterable dataset with per-pass randomness (``set_epoch``) draws pass ``epoch``'s order."""
        set_epoch = getattr(self.dataset, "set_epoch", None) if isinstance(self.dataset, IterableDataset) else None
        if callable(set_epoch):
            set_epoch(epoch)


class ResumableTrainData:
    """Mixin for a ``LightningDataModule`` whose ``train_dataloader`` returns ``self.resumable(loader)``.

    Its ``state_dict()`` (saved by Lightning in every checkpoint) holds the training loader's
    position, marked ``complete`` when the trainer had finished the pass; ``load_state_dict()``
    (called by Lightning when it restores a checkpoint) passes it to the next training loader.
    """

    _train_loader: ResumableDataLoader | None = None
    _resume_position: dict[str, Any] | None = None

    def resumable(self, loader: DataLoader) -> ResumableDataLoader:
        if not isinstance(loader, ResumableDataLoader):
            raise ValueError(f"resumable() needs a ResumableDataLoader, got {type(loader).__name__}")
        self._train_loader = loader
        if self._resume_position is not None:
            loader.resume_from(self._resume_position)
            self._resume_position = None
        return loader

    def state_dict(self) -> dict[str, Any]:
        if self._train_loader is None:
            return {}
        position: dict[str, Any] = dict(self._train_loader.position())
        trainer = getattr(self, "trainer", None)
        if trainer is not None:
            progress = trainer.fit_loop.epoch_loop.batch_progress
            position["complete"] = bool(progress.is_last_batch)
            if trainer.state.fn == "fit":
                # Lightning reads a loader without a length one batch ahead, to find the end of the pass:
                # what counts is the batches it has begun training on
                position["batches"] = min(position["batches"], progress.current.ready)
                taken = trainer.num_training_batches  # per pass, after limit_train_batches
                loader = self._train_loader
                map_style = not isinstance(loader.dataset, IterableDataset) and loader._has_len()
                if map_style and isinstance(taken, int) and taken < len(loader):  # what the replay needs to know
                    position["per_pass"] = taken
        return {"train_loader": position}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        position = state_dict.get("train_loader") if isinstance(state_dict, Mapping) else None
        self._resume_position = _check_position(position) if position is not None else None
