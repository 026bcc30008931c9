"""Figures logged to TensorBoard (matplotlib's object API: no pyplot state, no display needed)."""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.figure import Figure
from torch import Tensor


def confusion_matrix_figure(matrix: Tensor, label_names: Sequence[str] | None = None) -> Figure:
    """Heat map of a (C, C) confusion matrix, rows = true class, columns = predicted class.

    Cells are annotated with their counts when C <= 20.
    """
    counts = matrix.detach().cpu().long()
    C = counts.shape[0]
    names = list(label_names) if label_names is not None else [str(i) for i in range(C)]
    size = min(2.0 + 0.6 * C, 16.0)
    fig = Figure(figsize=(size, size))
    ax = fig.add_subplot()
    image = ax.imshow(counts.numpy(), cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(C), labels=names, rotation=45, ha="right")
    ax.set_yticks(range(C), labels=names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if C <= 20:
        threshold = counts.max().item() / 2 if counts.numel() else 0
        for i in range(C):
            for j in range(C):
                value = counts[i, j].item()
                ax.text(j, i, str(value), ha="center", va="center", color="white" if value > threshold else "black")
    fig.tight_layout()
    return fig
