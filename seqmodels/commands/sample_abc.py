"""``seqmodels-sample`` for a conditional language model over ABC tokens (``experiment=nottingham_folk_rnn``):
each sampled body written as a whole tune.

    seqmodels-sample ckpt_path=…/best.ckpt condition="M:6/8 L:1/8 K:G" output_file=tune.abc   # the ABC text
    seqmodels-sample ckpt_path=…/best.ckpt condition="M:6/8 L:1/8 K:G" output_file=tune.mid   # tune.abc beside it
    seqmodels-sample ckpt_path=…/best.ckpt condition="M:6/8 L:1/8 K:G" output_file=tune.wav   # and tune.mid

A body is written as ``format_tune(condition, body, number=i)``: ``X:i``, the condition's header fields (every
field the checkpoint stores, ``K`` last), the body. ``.mid`` is music21's MIDI of the tune and ``.wav`` that MIDI
rendered by the project's synth (:func:`~seqmodels.inference.abc_report.render_tune`); a tune music21 cannot
read or write as MIDI keeps its ``.abc`` only, and the line printed for it says so. ``num_samples`` > 1 writes
``tune_1.abc``, ``tune_2.abc``, … as the piano-roll models do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from ..data.abc_tokens import ABCTokenizer
from ..data.conditions import Conditions
from ..data.corpora.abc import format_tune
from ..inference.abc_report import render_tune
from ..inference.conditional import is_conditional

TUNE_SUFFIXES = (".abc", ".mid", ".wav")


def is_abc_model(model: nn.Module, encoder: Any) -> bool:
    """Whether ``model`` is a conditional language model whose tokenizer reads ABC (its samples are tune bodies)."""
    return is_conditional(model) and isinstance(getattr(encoder, "tokenizer", None), ABCTokenizer)


def tune_paths(output_file: Any, num: int) -> list[Path]:
    """One path per sample: ``output_file`` itself, or ``<stem>_<i><suffix>`` for ``num`` > 1."""
    path = Path(str(output_file)).expanduser()
    if path.suffix.lower() not in TUNE_SUFFIXES:
        raise ValueError(f"output_file={output_file} must end in one of {list(TUNE_SUFFIXES)}")
    if num == 1:
        return [path]
    return [path.with_name(f"{path.stem}_{i}{path.suffix}") for i in range(1, num + 1)]


def tune_text(conditions: Conditions, condition: Any, body: str, number: int = 1) -> str:
    """The whole tune: ``format_tune`` of the condition's header fields (every stored field, ``K`` last) and body."""
    fields = conditions.parse(condition if isinstance(condition, str) else {str(k): v for k, v in condition.items()})
    return format_tune({k: str(v) for k, v in fields.items()}, body, number=str(number))


def write_tune(text: str, path: Path) -> list[Path]:
    """Write the tune ``text`` at ``path`` (``.abc``; ``.mid`` with the ``.abc`` beside it; ``.wav`` with the
    ``.abc`` and ``.mid``); return the files written (the ``.abc`` only when music21 cannot make MIDI of it)."""
    if path.suffix.lower() == ".abc":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return [path]
    return render_tune(text, path, audio=path.suffix.lower() == ".wav")  # path.with_suffix(".abc"/".mid"/".wav")


__all__ = ["TUNE_SUFFIXES", "is_abc_model", "tune_paths", "tune_text", "write_tune"]
