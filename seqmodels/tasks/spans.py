"""Chunk (span) precision, recall and F1 over IOB-style tag sequences, as CoNLL's ``conlleval`` scores them.

The chunks of a tag sequence are read by :func:`seqmodels.data.chunks.spans` (conlleval's rules for
IOB2, IOB1, IOE and IOBES; see :mod:`seqmodels.data.chunks`). Scores are micro-averaged over chunks::

    precision = |pred ∩ gold| / |pred|    recall = |pred ∩ gold| / |gold|    F1 = 2 P R / (P + R)

where a chunk is (type, first token, last token) and counts only when both ends and the type match.
(``seqeval``'s default mode is the same algorithm; the tests use it as the oracle.)
:class:`SpanF1` keeps the three counts as summed metric states, so the score is exact over an
epoch and over distributed ranks.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torchmetrics import Metric

from ..data.chunks import Span, spans


def span_counts(predicted: Iterable[Sequence[str]], gold: Iterable[Sequence[str]]) -> tuple[int, int, int]:
    """(correct, predicted, gold) chunk counts over sentence pairs of equal lengths."""
    correct = n_pred = n_gold = 0
    for i, (p, g) in enumerate(zip(predicted, gold, strict=True)):
        if len(p) != len(g):
            raise ValueError(f"sentence {i}: {len(p)} predicted tags but {len(g)} gold tags")
        ps, gs = set(spans(p)), set(spans(g))
        correct += len(ps & gs)
        n_pred += len(ps)
        n_gold += len(gs)
    return correct, n_pred, n_gold


def prf(correct: float, n_pred: float, n_gold: float) -> tuple[float, float, float]:
    """(precision, recall, F1) from counts; 0 where a denominator is 0."""
    precision = correct / n_pred if n_pred else 0.0
    recall = correct / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


class SpanF1(Metric):
    """Micro chunk F1 over an epoch: ``update(predicted_tags, gold_tags)`` with lists of tag-string
    lists; ``compute()`` returns a tensor ``[precision, recall, F1]`` (fractions in [0, 1])."""

    full_state_update = False
    # the states add_state registers: counts summed over the epoch (and over ranks)
    correct: torch.Tensor
    predicted: torch.Tensor
    gold: torch.Tensor

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_state("correct", torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("predicted", torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("gold", torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")

    def update(self, predicted: Sequence[Sequence[str]], gold: Sequence[Sequence[str]]) -> None:
        correct, n_pred, n_gold = span_counts(predicted, gold)
        self.correct += correct
        self.predicted += n_pred
        self.gold += n_gold

    def compute(self) -> torch.Tensor:
        return torch.tensor(prf(int(self.correct), int(self.predicted), int(self.gold)), dtype=torch.float32)


__all__ = ["Span", "spans", "span_counts", "prf", "SpanF1"]
