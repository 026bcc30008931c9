"""Folk tunes in ABC notation for a conditional language model: a tune's body generated under its header's
meter, unit note length and key.

:class:`AbcTuneData` is :class:`~seqmodels.data.conditional_text.ConditionalTextDataModule` over an
:class:`~seqmodels.data.corpora.abc.AbcCorpus` (the Nottingham Music Database by default): the tunes split by
tune (80/10/10, seed 0), each body tokenized (``data/tokenizer=abc``:
:class:`~seqmodels.data.abc_tokens.ABCTokenizer`), each condition field a categorical input. A batch is::

    tokens     LongTensor (B, T): <eos> body tokens <eos>, padded with <pad> (id 0)
    lengths    LongTensor (B,): body tokens + 2
    condition  LongTensor (B, K): the id of each condition field's value (``conditions.fields`` order,
               by default M, L, K)

After ``setup()``: ``encoder`` (tokenizer + token vocabulary), ``vocab_size``, ``conditions`` (the fields
and their values, stored in checkpoints), ``condition_sizes`` (K ints), ``condition_features`` (0).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from .conditional_text import ConditionalTextDataModule
from .conditions import Conditions
from .corpora.abc import DEFAULT_FIELDS, DEFAULT_FRACTIONS, AbcCorpus, NottinghamABC


class AbcTuneData(ConditionalTextDataModule):
    """Conditioned folk tunes (see the module docstring).

    Args:
        path: the Nottingham folder (holding ``ABC_cleaned/``).
        files: any ``.abc`` files or folders of them (a list or one path), read instead of ``path`` when given.
        fractions: shares of (train, valid, test) tunes.
        split_seed: seeds the split by tune (kept apart from ``seed``, the training order's, so that changing
            the run's seed keeps the same test tunes).
        fields: the condition fields (header letters).
        encoding: the files' encoding.
        conditions: the fields' values to read the tunes with (``seqmodels-eval`` passes the checkpoint's);
            None: every value the tunes have.
        **options: :class:`~seqmodels.data.conditional_text.ConditionalTextDataModule`'s arguments
            (``tokenizer``, ``batch_size``, ``bucket``, ``seed``, ``min_batches_per_epoch``, ``encoder``, ...).
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        files: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
        fractions: Sequence[float] = DEFAULT_FRACTIONS,
        split_seed: int = 0,
        fields: Sequence[str] = DEFAULT_FIELDS,
        encoding: str = "utf-8",
        conditions: Conditions | Mapping[str, Any] | None = None,
        **options: Any,
    ) -> None:
        if path is None and files is None:
            raise ValueError("give path (the Nottingham folder) or files (.abc files or folders of them)")
        corpus: AbcCorpus
        if files is not None:
            corpus = AbcCorpus(files, fractions, split_seed, fields, encoding, conditions)
        else:
            corpus = NottinghamABC(path, fractions, split_seed, fields, encoding, conditions)
        super().__init__(corpus, **options)


__all__ = ["AbcTuneData"]
