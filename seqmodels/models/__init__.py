"""Full networks built from layers; each returns ``(output, state)``."""

from .attention import AdditiveAttention, Attention, MultiplicativeAttention
from .classifier import RNNClassifier
from .conditional_lm import ConditionalLanguageModel
from .groups import layer_groups
from .language_model import RNNLanguageModel
from .pooling import POOLINGS, concat_pool, last_pool, max_pool, mean_pool
from .pretrained import load_pretrained_embeddings
from .seq2seq import Seq2Seq
from .tagger import RNNTagger

__all__ = [
    "POOLINGS",
    "AdditiveAttention",
    "Attention",
    "ConditionalLanguageModel",
    "MultiplicativeAttention",
    "RNNClassifier",
    "RNNLanguageModel",
    "RNNTagger",
    "Seq2Seq",
    "concat_pool",
    "last_pool",
    "layer_groups",
    "load_pretrained_embeddings",
    "max_pool",
    "mean_pool",
]
