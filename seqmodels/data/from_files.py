"""DataModules over a user's own files, named by path: what ``configs/data/sequence_classification.yaml``,
``text.yaml``, ``conll.yaml``, ``parallel_text.yaml`` and ``conditional_text.yaml`` build.

Each is the project's DataModule for its task with a corpus made from ``train``/``valid``/``test``
paths, so that a command line needs no corpus section::

    seqmodels-train experiment=sequence_classifier data.train=walks_TRAIN.ts data.test=walks_TEST.ts
    seqmodels-train experiment=char_lm data.train=notes/ data/tokenizer=bpe
    seqmodels-train experiment=tagger data.train=ner/train.conll data.valid=ner/dev.conll data.test=ner/test.conll

Every other argument is the underlying DataModule's (batch sizes, validation share, vocabulary, ...).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .bpe import BPETokenizer
from .classification import ClassificationDataModule
from .conditional_text import ConditionalTextDataModule
from .conditions import Conditions
from .conll import ConllCorpus
from .corpora.conditional_text import ConditionalTextFiles
from .corpora.labeled_text import Column
from .corpora.series_files import SeriesFiles
from .corpora.text_classification import TextClassificationFiles
from .corpora.text_files import TextFiles
from .language_modeling import LanguageModelingDataModule
from .parallel_files import ParallelFiles
from .tagging import TaggingDataModule
from .translation import TranslationDataModule

PathLike = str | os.PathLike[str]
log = logging.getLogger(__name__)


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


class TextClassificationData(ClassificationDataModule):
    """Text classification from a user's labelled files (:class:`TextClassificationFiles`): csv, tsv, JSON lines,
    ``LABEL text`` lines, fastText ``__label__X text`` lines or one sub-folder per class.

    Args:
        train, valid, test: each a file, a list of files, a folder or a glob (``valid``/``test`` optional;
            without ``valid``, ``val_fraction`` of train is held out, per class when ``stratify``).
        format, text_column, label_column, header, labels, encoding, name: how the files are read (see
            :class:`TextClassificationFiles`).
        **options: :class:`ClassificationDataModule`'s arguments (``tokenizer``, ``batch_size``, ``max_length``,
            ``val_fraction``, ``stratify``, ``seed``, ...).
    """

    def __init__(
        self,
        train: Any,
        valid: Any = None,
        test: Any = None,
        format: str = "auto",
        text_column: str | int = "text",
        label_column: str | int = "label",
        header: bool | str = "auto",
        labels: Sequence[Any] | None = None,
        encoding: str = "utf-8",
        name: str = "text_classification",
        **options: Any,
    ) -> None:
        corpus = TextClassificationFiles(
            train,
            valid,
            test,
            format=format,
            text_column=text_column,
            label_column=label_column,
            header=header,
            labels=labels,
            encoding=encoding,
            name=name,
        )
        super().__init__(corpus, **options)


class TextData(LanguageModelingDataModule):
    """Language modeling on any text (:class:`TextFiles`): ``train``/``valid``/``test`` each a file, a
    folder, a glob or a list of them; only ``train`` cuts validation and test text off its end.

    With a :class:`BPETokenizer` the vocabulary is its ``vocab_size`` subwords: ``max_vocab_size`` and
    ``min_freq`` (meant for words, e.g. set by ``experiment=word_lm``) are then not used, and a log line says so.

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
        if isinstance(options.get("tokenizer"), BPETokenizer):
            for key, default in (("max_vocab_size", None), ("min_freq", 1)):
                if options.get(key, default) != default:
                    log.info("data.%s=%s is not used with BPE: its vocab_size bounds the vocabulary", key, options[key])
                    options[key] = default
        super().__init__(corpus, **options)


class ConditionalTextData(ConditionalTextDataModule):
    """A conditional language model's data from a user's csv, tsv or JSON-lines files
    (:class:`ConditionalTextFiles`): a text column and condition columns, batched as
    :mod:`seqmodels.data.conditional_text` says.

    Args:
        train, valid, test: each a file, a folder, a glob or a list of them (``valid``/``test`` optional;
            without ``valid``, ``val_fraction`` of train is held out).
        format, text_column, condition_columns, value_columns, header, encoding, name: how the files are read
            (see :class:`ConditionalTextFiles`).
        conditions: the fields and values to read the conditions with (a
            :class:`~seqmodels.data.conditions.Conditions` or its dict); None: from the training files.
        **options: :class:`~seqmodels.data.conditional_text.ConditionalTextDataModule`'s arguments
            (``tokenizer``, ``batch_size``, ``max_length``, ``specials``, ``val_fraction``, ``seed``, ...).
    """

    def __init__(
        self,
        train: Any,
        valid: Any = None,
        test: Any = None,
        format: str = "auto",
        text_column: Column = "text",
        condition_columns: Sequence[Column] | Column | None = ("label",),
        value_columns: Sequence[Column] | Column | None = (),
        header: bool | str = "auto",
        encoding: str = "utf-8",
        name: str = "conditional_text",
        conditions: Conditions | dict[str, Any] | None = None,
        **options: Any,
    ) -> None:
        corpus = ConditionalTextFiles(
            train,
            valid,
            test,
            format=format,
            text_column=text_column,
            condition_columns=condition_columns,
            value_columns=value_columns,
            header=header,
            encoding=encoding,
            conditions=conditions,
            name=name,
        )
        super().__init__(corpus, **options)


def _column_file(path: Any, key: str) -> str:
    if path is None or not str(path).strip():
        raise ValueError(f"{key} is required: the path of a CoNLL-style column file")
    p = Path(str(path)).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"{key}={path}: no such file")
    return str(p.resolve())


class ConllData(TaggingDataModule):
    """Tagging from CoNLL-style column files (:class:`~seqmodels.data.conll.ConllCorpus`): one token per
    line, columns separated by whitespace (or ``separator``), a blank line between sentences.

    Args:
        train, valid, test: the files of each split (``valid``/``test`` optional; without ``valid``,
            ``val_fraction`` of the training sentences is held out, drawn with ``val_seed``).
        word_column, tag_column: 0-based column indices (negative count from the end).
        feature_columns: further input columns (e.g. part-of-speech tags beside the words).
        num_columns: columns every row must have (None: each file's first row decides).
        separator: column separator (None: any run of whitespace).
        encoding: of every file.
        name: shown in messages (default: the train file's name).
        **options: :class:`TaggingDataModule`'s arguments.
    """

    def __init__(
        self,
        train: Any,
        valid: Any = None,
        test: Any = None,
        word_column: int = 0,
        tag_column: int = -1,
        feature_columns: Sequence[int] | None = None,
        num_columns: int | None = None,
        separator: str | None = None,
        encoding: str = "utf-8",
        name: str | None = None,
        **options: Any,
    ) -> None:
        files = {"train": _column_file(train, "train")}
        for key, value in (("valid", valid), ("test", test)):
            if value is not None:
                files[key] = _column_file(value, key)
        corpus = ConllCorpus(
            Path("/"),
            files,
            word_column=word_column,
            tag_column=tag_column,
            num_columns=num_columns,
            separator=separator,
            encoding=encoding,
            name=name or Path(files["train"]).name.split(".")[0],
            how="data.train, data.valid and data.test name the column files",
            feature_columns=feature_columns or (),
        )
        super().__init__(corpus, **options)


class ParallelTextData(TranslationDataModule):
    """Translation from line-aligned files (:class:`~seqmodels.data.parallel_files.ParallelFiles`): each split a
    prefix (``data/train`` for ``data/train.<source>`` and ``data/train.<target>``) or ``[source file, target file]``.

    Args:
        train, valid, test, source, target, val_fraction, val_seed, encoding: see :class:`ParallelFiles`.
        **options: :class:`TranslationDataModule`'s arguments (``source_tokenizer``, ``batch_size``, ...).
    """

    def __init__(
        self,
        train: Any,
        valid: Any = None,
        test: Any = None,
        source: str = "src",
        target: str = "tgt",
        val_fraction: float = 0.05,
        val_seed: int = 0,
        encoding: str = "utf-8",
        **options: Any,
    ) -> None:
        corpus = ParallelFiles(train, valid, test, source, target, val_fraction, val_seed, encoding)
        super().__init__(corpus, **options)
