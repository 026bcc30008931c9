"""Corpora: small loader classes over local files (opt-in, checksum-verified downloads).

Language modeling (``read(split) -> str``): :class:`PythonStdlibCorpus` (the embedded default,
no download), :class:`TinyShakespeare`, :class:`PennTreebank`, :class:`WikiText`.
Classification (``examples(split) -> [(x, label)]``): :class:`SST2`, :class:`IMDB`,
:class:`UEATimeSeries`. In memory: :class:`StringCorpus`, :class:`ExampleCorpus`.
Synthetic long-range tasks live in :mod:`seqmodels.data.synthetic`.
"""

from seqmodels.data.corpora.base import ClassificationCorpus, TextCorpus
from seqmodels.data.corpora.download import Remote
from seqmodels.data.corpora.memory import ExampleCorpus, StringCorpus
from seqmodels.data.corpora.sentiment import IMDB, SST2
from seqmodels.data.corpora.text import PennTreebank, PythonStdlibCorpus, TinyShakespeare, WikiText
from seqmodels.data.corpora.timeseries import UEATimeSeries, read_ts

__all__ = [
    "TextCorpus",
    "ClassificationCorpus",
    "Remote",
    "PythonStdlibCorpus",
    "TinyShakespeare",
    "PennTreebank",
    "WikiText",
    "StringCorpus",
    "SST2",
    "IMDB",
    "UEATimeSeries",
    "ExampleCorpus",
    "read_ts",
]
