"""The per-class report of seqmodels-eval against counts made by hand from label lists."""

from __future__ import annotations

import numpy as np
import pytest

from seqmodels.tasks.class_report import class_report, format_report


def test_per_class_figures_match_counts_by_hand():
    rng = np.random.default_rng(0)
    names = ["cat", "dog", "bird", "fish"]
    gold = rng.integers(0, 3, size=200).tolist()  # "fish" never occurs
    predicted = [p if p != 2 else 1 for p in rng.integers(0, 4, size=200).tolist()]  # "bird" is never predicted
    matrix = np.zeros((4, 4), dtype=int)
    for g, p in zip(gold, predicted):
        matrix[g, p] += 1
    report = class_report(matrix, names)
    for c, row in enumerate(report["classes"]):
        tp = sum(g == c and p == c for g, p in zip(gold, predicted))
        fp = sum(g != c and p == c for g, p in zip(gold, predicted))
        fn = sum(g == c and p != c for g, p in zip(gold, predicted))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        assert row == {
            "label": names[c],
            "precision": pytest.approx(precision),
            "recall": pytest.approx(recall),
            "f1": pytest.approx(f1),
            "support": tp + fn,
        }
    f1s = [row["f1"] for row in report["classes"]]
    supports = [row["support"] for row in report["classes"]]
    assert report["macro"]["f1"] == pytest.approx(sum(f1s) / 4)
    assert report["weighted"]["f1"] == pytest.approx(sum(f * s for f, s in zip(f1s, supports)) / 200)
    assert report["accuracy"] == pytest.approx(sum(g == p for g, p in zip(gold, predicted)) / 200)
    assert report["confusion_matrix"] == {"labels": names, "rows": matrix.tolist()}
    table = format_report(report)
    assert all(name in table for name in names) and "macro avg" in table


def test_a_matrix_and_names_must_agree():
    with pytest.raises(ValueError, match="3 label names for a 2-class confusion matrix"):
        class_report([[1, 0], [0, 1]], ["a", "b", "c"])
    with pytest.raises(ValueError, match=r"a confusion matrix is \(C, C\), got shape \(2, 3\)"):
        class_report([[1, 0, 0], [0, 1, 0]])
