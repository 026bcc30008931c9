"""DataModules over a user's own files, named by path: what ``configs/data/sequence_classification.yaml``,
``text.yaml``, ``conll.yaml`` and ``parallel_text.yaml`` build.

Each is the project's DataModule for its task with a corpus made from ``train``/``valid``/``test``
paths, so that a command line needs no corpus section::

    seqmodels-train experiment=sequence_classifier data.train=walks_TRAIN.ts data.test=walks_TEST.ts
    seqmodels-train experiment=char_lm data.train=notes/ data.tokenizer=...

Every other argument is the underlying DataModule's (batch sizes, validation share, vocabulary, ...).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from .classification import ClassificationDataModule
from .corpora.series_files import SeriesFiles
from .corpora.text_files import TextFiles
from .language_modeling import LanguageModelingDataModule

PathLike = str | os.PathLike[str]


class SeriesClassificationData(ClassificationDataModule):
    """Time-series classification from ``.ts``, CSV or ``.npz`` files (:class:`SeriesFiles`).

    Args:
        train, valid, test: the files of each split (``valid`` and ``test`` optional; without
            ``valid``, ``val_fraction`` of train is held out, per class when ``stratify``).
        format, label_column, id_column, time_column, feature_columns, labels, nan, allow_pickle,
            delimiter, encoding, name: how the files are read (see :class:`SeriesFiles`).
        **options: :class:`ClassificationDataModule`'s arguments (``batch_size``, ``normalize``,
            ``val_fraction``, ``stratify``, ``seed``, ...).
    """

    def __init__(
        self,
        train: PathLike,
        valid: PathLike | None = None,
        test: PathLike | None = None,
        format: str = "auto",
        label_column: str = "label",
        id_column: str | None = None,
        time_column: str | None = None,
        feature_columns: Sequence[str] | None = None,
        labels: Sequence[Any] | None = None,
        nan: str = "error",
        allow_pickle: bool = False,
        delimiter: str | None = None,
        encoding: str = "utf-8",
        name: str | None = None,
        **options: Any,
    ) -> None:
        corpus = SeriesFiles(
            train,
            valid,
            test,
            format=format,
            label_column=label_column,
            id_column=id_column,
            time_column=time_column,
            feature_columns=feature_columns,
            labels=labels,
            nan=nan,
            allow_pickle=allow_pickle,
            delimiter=delimiter,
            encoding=encoding,
            name=name,
        )
        if options.get("tokenizer") is not None:
            raise ValueError("tokenizer must be null for time series (the values enter the model directly)")
        super().__init__(corpus, **options)


class TextData(LanguageModelingDataModule):
    """Language modeling on any text (:class:`TextFiles`): ``train``/``valid``/``test`` each a file, a
    folder, a glob or a list of them; only ``train`` cuts validation and test text off its end.

    Args:
        train, valid, test, val_fraction, test_fraction, encoding, line_end, name: see :class:`TextFiles`.
        **options: :class:`LanguageModelingDataModule`'s arguments (``tokenizer``, ``batch_size``, ``bptt``,
            ``max_vocab_size``, ``cache_dir``, ...).
    """

    def __init__(
        self,
        train: Any,
        valid: Any = None,
        test: Any = None,
        val_fraction: float = 0.05,
        test_fraction: float = 0.05,
        encoding: str = "utf-8",
        line_end: str | None = None,
        name: str | None = None,
        **options: Any,
    ) -> None:
        corpus = TextFiles(train, valid, test, val_fraction, test_fraction, encoding, line_end, name)
        super().__init__(corpus, **options)
