"""Data: tokenizers, vocabularies, corpora and Lightning DataModules.

Text encoding: ``tokenizer_base`` (the ``Tokenizer`` base class and registry), ``tokenizers``
(characters, words, sentences, n-grams; ``bpe`` for subwords; ``abc_tokens`` for ABC music notation),
``vocab`` (token <-> id), ``encoder`` (``TextEncoder`` = tokenizer + vocabulary, the object checkpoints
carry as JSON).
Corpora: ``corpora`` (local files; opt-in checksum-verified downloads); ``synthetic`` long-range tasks.
DataModules: ``language_modeling`` (ids cached as memmaps by ``token_cache``), ``classification``,
``tagging``, ``translation`` (their shared length bucketing in ``batching``), ``synthetic``;
``from_files``: the same over a user's own files named by path (``data.train=...`` on the command line).
Pretrained word vectors: ``word_vectors`` (GloVe, word2vec, fastText files into a vocabulary's rows).

Importing this package loads none of its modules: each name is imported from its module when first used, so
that reading a checkpoint's vocabulary or a CoNLL file (``seqmodels-predict``) does not pay for Lightning,
which the DataModules import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..utils.lazy import lazy_exports

# the built-in tokenizers register their type names on import (TOKENIZERS in tokenizer_base), so that a
# tokenizer of one's own that takes one of them is refused when it is defined
from . import abc_tokens, bpe, tokenizers  # noqa: F401  (none of them imports Lightning)

if TYPE_CHECKING:
    from .abc_tokens import ABCTokenizer
    from .batching import BucketBatchSampler, SequenceDataset
    from .bpe import BPETokenizer
    from .classification import ClassificationDataModule, PadCollate
    from .conll import CoNLL2000, ConllCorpus, read_conll
    from .corpora import (
        IMDB,
        SST2,
        ClassificationCorpus,
        ExampleCorpus,
        IMDBReviewText,
        PennTreebank,
        PythonStdlibCorpus,
        SeriesFiles,
        StringCorpus,
        TextClassificationFiles,
        TextCorpus,
        TextFiles,
        TinyShakespeare,
        UEATimeSeries,
        WikiText,
    )
    from .encoder import TextEncoder, build_vocab, one_hot
    from .from_files import ConllData, ParallelTextData, SeriesClassificationData, TextData
    from .language_modeling import LanguageModelingDataModule, StreamBatches, WindowBatches
    from .parallel_files import ParallelFiles
    from .synthetic import AddingProblem, CopyMemory, Parity, SyntheticDataModule, SyntheticTask
    from .tagging import TaggingDataModule
    from .token_cache import TokenCache
    from .tokenizers import (
        TOKENIZERS,
        CharTokenizer,
        NGramTokenizer,
        SentenceTokenizer,
        Tokenizer,
        WordTokenizer,
        ngrams,
        split_sentences,
        tokenizer_from_dict,
    )
    from .translation import Multi30k, ParallelCorpus, TranslationDataModule
    from .translation_encoder import TranslationEncoder
    from .vocab import BOS, EOS, PAD, UNK, Vocab, count_tokens
    from .word_vectors import WordVectors, read_word_vectors
else:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            "abc_tokens": ("ABCTokenizer",),
            "batching": ("BucketBatchSampler", "SequenceDataset"),
            "bpe": ("BPETokenizer",),
            "classification": ("ClassificationDataModule", "PadCollate"),
            "conll": ("CoNLL2000", "ConllCorpus", "read_conll"),
            "corpora": (
                "IMDB",
                "SST2",
                "ClassificationCorpus",
                "ExampleCorpus",
                "IMDBReviewText",
                "PennTreebank",
                "PythonStdlibCorpus",
                "SeriesFiles",
                "StringCorpus",
                "TextClassificationFiles",
                "TextCorpus",
                "TextFiles",
                "TinyShakespeare",
                "UEATimeSeries",
                "WikiText",
            ),
            "encoder": ("TextEncoder", "build_vocab", "one_hot"),
            "from_files": ("ConllData", "ParallelTextData", "SeriesClassificationData", "TextData"),
            "language_modeling": ("LanguageModelingDataModule", "StreamBatches", "WindowBatches"),
            "parallel_files": ("ParallelFiles",),
            "synthetic": ("AddingProblem", "CopyMemory", "Parity", "SyntheticDataModule", "SyntheticTask"),
            "tagging": ("TaggingDataModule",),
            "token_cache": ("TokenCache",),
            "tokenizers": (
                "TOKENIZERS",
                "CharTokenizer",
                "NGramTokenizer",
                "SentenceTokenizer",
                "Tokenizer",
                "WordTokenizer",
                "ngrams",
                "split_sentences",
                "tokenizer_from_dict",
            ),
            "translation": ("Multi30k", "ParallelCorpus", "TranslationDataModule"),
            "translation_encoder": ("TranslationEncoder",),
            "vocab": ("BOS", "EOS", "PAD", "UNK", "Vocab", "count_tokens"),
            "word_vectors": ("WordVectors", "read_word_vectors"),
        },
    )
__all__ = [
    "ABCTokenizer",
    "BOS",
    "EOS",
    "IMDB",
    "IMDBReviewText",
    "PAD",
    "SST2",
    "TOKENIZERS",
    "UNK",
    "AddingProblem",
    "BPETokenizer",
    "BucketBatchSampler",
    "CharTokenizer",
    "ClassificationCorpus",
    "ClassificationDataModule",
    "CoNLL2000",
    "ConllCorpus",
    "ConllData",
    "CopyMemory",
    "ExampleCorpus",
    "LanguageModelingDataModule",
    "Multi30k",
    "NGramTokenizer",
    "PadCollate",
    "ParallelCorpus",
    "ParallelFiles",
    "ParallelTextData",
    "Parity",
    "PennTreebank",
    "PythonStdlibCorpus",
    "SentenceTokenizer",
    "SequenceDataset",
    "SeriesClassificationData",
    "SeriesFiles",
    "StreamBatches",
    "StringCorpus",
    "SyntheticDataModule",
    "SyntheticTask",
    "TaggingDataModule",
    "TextClassificationFiles",
    "TextCorpus",
    "TextData",
    "TextEncoder",
    "TextFiles",
    "TinyShakespeare",
    "TokenCache",
    "Tokenizer",
    "TranslationDataModule",
    "TranslationEncoder",
    "UEATimeSeries",
    "Vocab",
    "WikiText",
    "WindowBatches",
    "WordTokenizer",
    "WordVectors",
    "build_vocab",
    "count_tokens",
    "ngrams",
    "one_hot",
    "read_conll",
    "read_word_vectors",
    "split_sentences",
    "tokenizer_from_dict",
]
