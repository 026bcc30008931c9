"""``seqmodels-predict``: the label, the tags or the value(s) a classifier, tagger or regressor checkpoint gives
new inputs, one JSON line per input, in input order.

    seqmodels-predict ckpt_path=… text="a gripping , funny film"
    seqmodels-predict ckpt_path=… input_file=reviews.txt output_file=predictions.jsonl top_k=1

A file is read and predicted ``batch_size`` inputs at a time and each batch's lines are written before
the next batch is read, so a file of any size takes bounded memory; a progress bar goes to stderr when
it is a terminal. The fields are those of :mod:`seqmodels.inference.predictor`; the inputs' formats,
those of :mod:`seqmodels.inference.inputs` (a model of real-valued series reads the training formats, ``.ts``,
CSV and ``.npz``, with the CSV options of the training data config unless given: ``id_column=...``). In file
mode every line also says where its input was: ``"line"`` (1-based; with ``"id"`` for a series of a CSV file
with a series-id column) or, for arrays, ``"index"`` (0-based row).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any

from omegaconf import DictConfig, ListConfig, OmegaConf
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ..inference.inputs import Example, count_examples, read_examples, read_series, series_format
from ..inference.predictor import Predictor, batched
from .app import hydra_command
from .options import check_ckpt_path, short
from .translate import quote_text_override


def _examples(cfg: DictConfig, predictor: Predictor) -> tuple[Iterator[Example], Path | None]:
    text, input_file = cfg.get("text"), cfg.get("input_file")
    if (text is None) == (input_file is None):
        raise ValueError('give exactly one of text="an input" (or a list of them) and input_file=<path>')
    if input_file is None:
        texts = [text] if isinstance(text, str) else list(text)
        if not texts or not all(isinstance(t, str) for t in texts):
            raise ValueError(f'text must be a string or a list of strings, e.g. text="a fine film", got {short(text)}')
        return (Example(t, f"text[{i}]", {}) for i, t in enumerate(texts)), None
    path = Path(str(input_file)).expanduser()
    changes = _plain(cfg.get("data")) or {}
    if predictor.input_type == "series":  # the formats and CSV options of the training data
        try:
            options = predictor.series_options(changes)
        except ValueError as error:
            raise ValueError(f"data: {error}") from None
        return read_series(path, cfg.get("format"), str(cfg.get("encoding", "utf-8")), **options), path
    if changes:
        raise ValueError(f"data.{next(iter(changes))}: data.* options are for models of real-valued series in CSV")
    examples = read_examples(
        path,
        cfg.get("format"),
        cfg.get("text_column"),
        bool(cfg.get("skip_empty", False)),
        str(cfg.get("encoding", "utf-8")),
    )
    return examples, path


def _progress(cfg: DictConfig, path: Path | None) -> Progress:
    """A bar on stderr, shown only when stderr is a terminal (and ``progress=true``)."""
    console = Console(stderr=True)
    shown = bool(cfg.get("progress", True)) and path is not None and console.is_terminal
    return Progress(
        TextColumn("predicting"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not shown,
    )


def predict(cfg: DictConfig) -> int:
    """Write one JSON line per input of ``cfg.text`` or ``cfg.input_file`` to ``cfg.output_file`` (default
    stdout); return how many were written."""
    predictor = Predictor.from_checkpoint(check_ckpt_path(cfg.ckpt_path), str(cfg.get("device", "cpu")))
    examples, path = _examples(cfg, predictor)
    output_file = Path(str(cfg.output_file)).expanduser() if cfg.get("output_file") else None
    if output_file is not None and path is not None and output_file.resolve() == path.resolve():
        raise ValueError(f"output_file={cfg.output_file} is the input_file: it would be overwritten while it is read")
    predictor.check_predicts()
    top_k, batch_size = cfg.get("top_k"), cfg.get("batch_size", 64)
    written = 0
    with ExitStack() as stack:
        out: IO[str] = sys.stdout
        if output_file is not None:
            out = stack.enter_context(open(output_file, "w", encoding="utf-8"))
        progress = stack.enter_context(_progress(cfg, path))
        total = None
        if not progress.disable and path is not None:
            total = _count(cfg, path, predictor)
        bar = progress.add_task("predict", total=total)
        try:
            for batch in batched(examples, _batch_size(batch_size)):
                for example, result in zip(batch, predictor.predict_batch(batch, top_k)):
                    out.write(json.dumps({**example.position, **result}, ensure_ascii=False) + "\n")
                out.flush()
                written += len(batch)
                progress.advance(bar, len(batch))
        except BrokenPipeError:  # the reader of stdout stopped (| head): no more lines wanted, not an error
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so that the exit's flush stays quiet
            return written
        except ValueError as error:
            if written and cfg.get("output_file"):
                raise ValueError(f"{error}\n(the {written} predictions before it are in {cfg.output_file})") from error
            raise
    if cfg.get("output_file"):
        print(f"{written} predictions written to {cfg.output_file}", file=sys.stderr, flush=True)
    return written


def _count(cfg: DictConfig, path: Path, predictor: Predictor) -> int | None:
    """How many inputs ``path`` holds, for the progress bar (None: unknown, as for the series of a CSV file)."""
    if predictor.input_type != "series":
        return count_examples(path, cfg.get("format"), bool(cfg.get("skip_empty", False)))
    fmt = series_format(path, cfg.get("format"))
    return None if fmt in ("csv", "tsv") else count_examples(path, fmt)


def _plain(value: Any) -> Any:
    """A config value as plain Python (a ListConfig as a list)."""
    return OmegaConf.to_container(value) if isinstance(value, (DictConfig, ListConfig)) else value


def _batch_size(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"batch_size must be a positive integer, got {short(value)}")
    return value


@hydra_command("predict")
def _main(cfg: DictConfig) -> None:
    predict(cfg)


def main() -> None:
    """The console script: ``text=`` values quoted for Hydra's grammar, then the Hydra app."""
    sys.argv[1:] = quote_text_override(sys.argv[1:])
    _main()
