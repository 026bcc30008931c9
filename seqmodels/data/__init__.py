"""Data: tokenizers, vocabularies, corpora and Lightning DataModules.

Text encoding: ``tokenizers`` (characters, words, sentences, n-grams; ``bpe`` for subwords),
``vocab`` (token <-> id), ``encoder`` (``TextEncoder`` = tokenizer + vocabulary, the object
checkpoints carry as JSON).
Corpora: ``corpora`` (local files; opt-in checksum-verified downloads), cached in ``cache``.
"""

from seqmodels.data.tokenizers import (  # noqa: I001  (tokenizers before bpe: bpe subclasses Tokenizer)
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
from seqmodels.data.bpe import BPETokenizer
from seqmodels.data.vocab import BOS, EOS, PAD, UNK, Vocab, count_tokens
from seqmodels.data.encoder import TextEncoder, build_vocab, one_hot
from seqmodels.data.corpora import (
    IMDB,
    SST2,
    ClassificationCorpus,
    PennTreebank,
    PythonStdlibCorpus,
    TextCorpus,
    TinyShakespeare,
    UEATimeSeries,
    WikiText,
)

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
]
