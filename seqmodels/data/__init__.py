"""Data: tokenizers, vocabularies, corpora and Lightning DataModules.

Text encoding: ``tokenizer_base`` (the ``Tokenizer`` base class and registry), ``tokenizers``
(characters, words, sentences, n-grams; ``bpe`` for subwords), ``vocab`` (token <-> id), ``encoder``
(``TextEncoder`` = tokenizer + vocabulary, the object checkpoints carry as JSON).
Corpora: ``corpora`` (local files; opt-in checksum-verified downloads); ``synthetic`` long-range tasks.
DataModules: ``language_modeling`` (ids cached as memmaps by ``token_cache``), ``classification``,
``tagging``, ``translation`` (their shared length bucketing in ``batching``), ``synthetic``.
"""

from .batching import BucketBatchSampler, SequenceDataset
from .bpe import BPETokenizer
from .classification import ClassificationDataModule, PadCollate
from .corpora import (
    IMDB,
    SST2,
    ClassificationCorpus,
    ExampleCorpus,
    PennTreebank,
    PythonStdlibCorpus,
    StringCorpus,
    TextCorpus,
    TinyShakespeare,
    UEATimeSeries,
    WikiText,
)
from .encoder import TextEncoder, build_vocab, one_hot
from .language_modeling import LanguageModelingDataModule, StreamBatches, WindowBatches
from .synthetic import AddingProblem, CopyMemory, Parity, SyntheticDataModule, SyntheticTask
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
from .vocab import BOS, EOS, PAD, UNK, Vocab, count_tokens

__all__ = [
    "TOKENIZERS",
    "Tokenizer",
    "CharTokenizer",
    "WordTokenizer",
    "SentenceTokenizer",
    "NGramTokenizer",
    "BPETokenizer",
    "ngrams",
    "split_sentences",
    "tokenizer_from_dict",
    "Vocab",
    "count_tokens",
    "UNK",
    "EOS",
    "PAD",
    "BOS",
    "TextEncoder",
    "build_vocab",
    "one_hot",
    "TextCorpus",
    "ClassificationCorpus",
    "PythonStdlibCorpus",
    "TinyShakespeare",
    "PennTreebank",
    "WikiText",
    "SST2",
    "IMDB",
    "UEATimeSeries",
    "StringCorpus",
    "ExampleCorpus",
    "TokenCache",
    "LanguageModelingDataModule",
    "StreamBatches",
    "WindowBatches",
    "ClassificationDataModule",
    "BucketBatchSampler",
    "PadCollate",
    "SequenceDataset",
    "SyntheticTask",
    "AddingProblem",
    "CopyMemory",
    "Parity",
    "SyntheticDataModule",
]
from .conll import CoNLL2000, ConllCorpus, read_conll
from .tagging import TaggingDataModule
__all__ += ["CoNLL2000", "ConllCorpus", "read_conll", "TaggingDataModule"]
from .translation import Multi30k, ParallelCorpus, TranslationDataModule, TranslationEncoder
__all__ += ["Multi30k", "ParallelCorpus", "TranslationDataModule", "TranslationEncoder"]
