"""LightningModules: they own the loss, the metrics, the logging and the optimizer wiring."""

from .base import SequenceTask
from .classification import ClassificationTask
from .language_modeling import LanguageModelingTask
from .regression import RegressionTask
from .schedulers import EpochDecay, SlantedTriangular
from .tagging import TaggingTask
from .translation import TranslationTask

__all__ = [
    "ClassificationTask",
    "EpochDecay",
    "LanguageModelingTask",
    "RegressionTask",
    "SequenceTask",
    "SlantedTriangular",
    "TaggingTask",
    "TranslationTask",
]
