"""Full networks built from layers; each returns ``(output, state)``."""

from .classifier import RNNClassifier
from .language_model import RNNLanguageModel
from .pooling import POOLINGS, last_pool, max_pool, mean_pool

__all__ = ["RNNLanguageModel", "RNNClassifier", "POOLINGS", "last_pool", "mean_pool", "max_pool"]
from .tagger import RNNTagger
__all__ += ["RNNTagger"]
from .attention import AdditiveAttention, Attention, MultiplicativeAttention
from .seq2seq import Seq2Seq
__all__ += ["Attention", "AdditiveAttention", "MultiplicativeAttention", "Seq2Seq"]
