"""``seqmodels-score``: log-probability and perplexity of sentences under a language model, one JSON line each.

seqmodels-score ckpt_path=… 'sentences=["the apple and pear salad","the apple and pair salad"]'
seqmodels-score ckpt_path=… 'sentences=["a fine film"]' condition=label:pos      (a conditional language model)
"""

from __future__ import annotations

import json
from typing import Any

from omegaconf import DictConfig

from ..checkpoints import load_language_model
from ..inference.conditional import condition_input, is_conditional, load_conditions
from ..inference.generation import score as score_sentences
from .app import hydra_command
from .options import check_ckpt_path, short


def score(cfg: DictConfig) -> list[dict[str, Any]]:
    """Print one JSON line per sentence: log-probability under the model, perplexity, token count."""
    sentences = cfg.sentences
    if isinstance(sentences, str):
        sentences = [sentences]
    if not sentences or not all(isinstance(s, str) for s in sentences):
        raise ValueError(
            f'sentences must be a non-empty list of strings, e.g. \'sentences=["a b","c d"]\', got {short(sentences)}'
        )
    path = check_ckpt_path(cfg.ckpt_path)
    model, encoder, _ = load_language_model(path)
    conditions = load_conditions(path) if is_conditional(model) else None
    condition = condition_input(model, conditions, cfg.get("condition"), path)
    results = score_sentences(model, encoder, list(sentences), condition=condition)
    for row in results:
        print(json.dumps(row), flush=True)
    return results


@hydra_command("score")
def main(cfg: DictConfig) -> None:
    score(cfg)
