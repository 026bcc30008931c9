"""Checkpoints written by hand, without training: a network built from a config dict with seeded random
weights, saved in the layout ``seqmodels-train`` writes (``state_dict`` under ``model.``, the task's
``hyper_parameters``, the plain-data ``seqmodels`` entry). Fast fixtures for prediction tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from torch import nn

from seqmodels.data import TextEncoder, Vocab, WordTokenizer

TASKS = {
    "classifier": "seqmodels.tasks.classification.ClassificationTask",
    "tagger": "seqmodels.tasks.tagging.TaggingTask",
    "regressor": "seqmodels.tasks.regression.RegressionTask",
    "language_model": "seqmodels.tasks.language_modeling.LanguageModelingTask",
}
LSTM = {"_target_": "seqmodels.cells.LSTMCell", "_partial_": True}
WORDS = ["<pad>", "<unk>", "a", "fine", "film", "dull", "plot", "the", "cast", "shines", "."]


def word_encoder(lowercase: bool = True, words: list[str] = WORDS) -> TextEncoder:
    return TextEncoder(WordTokenizer(lowercase=lowercase), Vocab(words, ["<pad>", "<unk>"]))


def write_checkpoint(
    path: Path,
    kind: str,
    model: dict[str, Any],
    encoder: TextEncoder | None = None,
    hyper_parameters: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
    input_normalization: dict[str, list[float]] | None = None,
    seed: int = 0,
    prepare: Callable[[nn.Module], None] | None = None,
) -> nn.Module:
    """Save a ``kind`` checkpoint of the network ``instantiate(model)`` (seeded, then given to ``prepare``,
    e.g. to scale some weights) at ``path``; return the network."""
    torch.manual_seed(seed)
    network = instantiate(model)
    if prepare is not None:
        with torch.no_grad():
            prepare(network)
    extra = {
        "format_version": 1,
        "task": TASKS[kind],
        "config": {"model": model, "data": data or {}},
        "encoder": None if encoder is None else encoder.to_dict(),
        "input_normalization": input_normalization,
    }
    state = {f"model.{k}": v for k, v in network.state_dict().items()}
    torch.save({"state_dict": state, "hyper_parameters": hyper_parameters or {}, "seqmodels": extra}, path)
    return network.eval()


def classifier_config(num_classes: int = 3, vocab_size: int = len(WORDS), **extra: Any) -> dict[str, Any]:
    return {
        "_target_": "seqmodels.models.RNNClassifier",
        "num_classes": num_classes,
        "cell": LSTM,
        "vocab_size": vocab_size,
        "padding_idx": 0,
        "embedding_dim": 8,
        "hidden_size": 6,
        "bidirectional": True,
        **extra,
    }
