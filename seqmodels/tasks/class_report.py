"""Per-class precision, recall, F1 and support from a confusion matrix, and the table ``seqmodels-eval`` prints.

With ``M[i, j]`` the number of examples of true class i predicted as class j::

    support_c   = Σ_j M[c, j]                 (examples of class c)
    precision_c = M[c, c] / Σ_i M[i, c]       (0 when class c is never predicted)
    recall_c    = M[c, c] / support_c         (0 when class c never occurs)
    F1_c        = 2 P_c R_c / (P_c + R_c)     (0 when P_c + R_c = 0)

``macro`` averages the per-class figures with equal weights, ``weighted`` by support; ``accuracy`` is
``Σ_c M[c, c] / Σ M``. (scikit-learn's ``classification_report`` with ``zero_division=0`` gives the same numbers.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch


def class_report(
    confusion: torch.Tensor | Sequence[Sequence[int]], label_names: Sequence[str] | None = None
) -> dict[str, Any]:
    """The report of a (C, C) confusion matrix (rows: true class, columns: predicted class).

    Returns a plain dict: ``classes`` (one ``{"label", "precision", "recall", "f1", "support"}`` per class,
    in class order), ``macro`` and ``weighted`` (``precision``, ``recall``, ``f1``), ``accuracy``,
    ``support`` (all examples) and ``confusion_matrix`` (``labels`` and ``rows``, lists of counts; rows
    are true classes, columns predicted ones).
    """
    matrix = torch.as_tensor(confusion, dtype=torch.float64)
    if matrix.dim() != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"a confusion matrix is (C, C), got shape {tuple(matrix.shape)}")
    num_classes = matrix.shape[0]
    names = [str(i) for i in range(num_classes)] if label_names is None else [str(n) for n in label_names]
    if len(names) != num_classes:
        raise ValueError(f"{len(names)} label names for a {num_classes}-class confusion matrix")
    correct = matrix.diagonal()
    support, predicted = matrix.sum(1), matrix.sum(0)
    precision = torch.where(predicted > 0, correct / predicted.clamp(min=1), 0.0)
    recall = torch.where(support > 0, correct / support.clamp(min=1), 0.0)
    f1 = torch.where(precision + recall > 0, 2 * precision * recall / (precision + recall).clamp(min=1e-300), 0.0)
    total = float(support.sum())
    weights = support / total if total else torch.zeros_like(support)
    figures = {"precision": precision, "recall": recall, "f1": f1}
    return {
        "classes": [
            {
                "label": names[c],
                "precision": float(precision[c]),
                "recall": float(recall[c]),
                "f1": float(f1[c]),
                "support": int(support[c]),
            }
            for c in range(num_classes)
        ],
        "macro": {k: float(v.mean()) for k, v in figures.items()},
        "weighted": {k: float((v * weights).sum()) for k, v in figures.items()},
        "accuracy": float(correct.sum()) / total if total else 0.0,
        "support": int(total),
        "confusion_matrix": {"labels": names, "rows": [[int(x) for x in row] for row in matrix.tolist()]},
    }


def _figures(row: dict[str, Any]) -> str:
    return f"{row['precision']:9.4f}  {row['recall']:6.4f}  {row['f1']:6.4f}"


def format_report(report: dict[str, Any]) -> str:
    """The report as a text table (per class, the averages) and the confusion matrix with label names."""
    width = max([len(c["label"]) for c in report["classes"]] + [12])
    lines = [f"{'':>{width}}  precision  recall     f1  support"]
    for c in report["classes"]:
        lines.append(f"{c['label']:>{width}}  {_figures(c)}  {c['support']:7d}")
    lines.append("")
    lines.append(f"{'accuracy':>{width}}  {'':9}  {'':6}  {report['accuracy']:6.4f}  {report['support']:7d}")
    for name in ("macro", "weighted"):
        avg = report[name]
        lines.append(f"{name + ' avg':>{width}}  {_figures(avg)}  {report['support']:7d}")
    labels, rows = report["confusion_matrix"]["labels"], report["confusion_matrix"]["rows"]
    cell = max([len(n) for n in labels] + [len(str(x)) for row in rows for x in row])
    lines += [
        "",
        "confusion matrix (rows: true class, columns: predicted class)",
        f"{'':>{width}}  " + " ".join(f"{n:>{cell}}" for n in labels),
    ]
    lines += [f"{n:>{width}}  " + " ".join(f"{x:>{cell}}" for x in row) for n, row in zip(labels, rows)]
    return "\n".join(lines)


__all__ = ["class_report", "format_report"]
