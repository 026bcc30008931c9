"""Corpora: small loader classes over local files (opt-in, checksum-verified downloads).

Language modeling (``read(split) -> str``): :class:`PythonStdlibCorpus` (the embedded default,
no download), :class:`TinyShakespeare`, :class:`PennTreebank`, :class:`WikiText`, IMDB's training reviews
(:class:`IMDBReviewText`), and any text of the
user's in :class:`TextFiles` (files, folders, globs).
Classification (``examples(split) -> [(x, label)]``): :class:`SST2`, :class:`IMDB`,
:class:`UEATimeSeries`, and the user's own labelled texts in :class:`TextClassificationFiles`
(csv, tsv, JSON lines, ``LABEL text``, fastText lines, one folder per class) and labelled time series
in :class:`SeriesFiles` (UEA ``.ts``, CSV, ``.npz``).
Folk tunes in ABC notation (``tunes(split)``, ``pairs(split)``, conditioned ``examples(split)``): :class:`AbcCorpus`,
:class:`NottinghamABC`.
In memory: :class:`StringCorpus`, :class:`ExampleCorpus`.
Synthetic long-range tasks live in :mod:`seqmodels.data.synthetic`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...utils.lazy import lazy_exports

if TYPE_CHECKING:
    from .abc import AbcCorpus, AbcTune, NottinghamABC, parse_abc, read_abc, split_tunes
    from .base import ClassificationCorpus, TextCorpus
    from .download import Remote
    from .memory import ExampleCorpus, StringCorpus
    from .review_text import IMDBReviewText
    from .sentiment import IMDB, SST2
    from .series_files import SeriesFiles
    from .text import PennTreebank, PythonStdlibCorpus, TinyShakespeare, WikiText
    from .text_classification import TextClassificationFiles
    from .text_files import TextFiles
    from .timeseries import TsReader, UEATimeSeries, read_ts
else:  # each name is imported from its module when first used (see seqmodels.utils.lazy)
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            "abc": ("AbcCorpus", "AbcTune", "NottinghamABC", "parse_abc", "read_abc", "split_tunes"),
            "base": ("ClassificationCorpus", "TextCorpus"),
            "download": ("Remote",),
            "memory": ("ExampleCorpus", "StringCorpus"),
            "review_text": ("IMDBReviewText",),
            "sentiment": ("IMDB", "SST2"),
            "series_files": ("SeriesFiles",),
            "text": ("PennTreebank", "PythonStdlibCorpus", "TinyShakespeare", "WikiText"),
            "text_classification": ("TextClassificationFiles",),
            "text_files": ("TextFiles",),
            "timeseries": ("TsReader", "UEATimeSeries", "read_ts"),
        },
    )

__all__ = [
    "IMDB",
    "AbcCorpus",
    "AbcTune",
    "NottinghamABC",
    "IMDBReviewText",
    "SST2",
    "ClassificationCorpus",
    "ExampleCorpus",
    "PennTreebank",
    "PythonStdlibCorpus",
    "Remote",
    "SeriesFiles",
    "StringCorpus",
    "TextClassificationFiles",
    "TextCorpus",
    "TextFiles",
    "TinyShakespeare",
    "TsReader",
    "UEATimeSeries",
    "WikiText",
    "parse_abc",
    "read_abc",
    "read_ts",
    "split_tunes",
]
