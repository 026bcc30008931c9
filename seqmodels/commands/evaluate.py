"""``seqmodels-eval``: evaluate a checkpoint on the test split (``split=val`` for validation).

    seqmodels-eval ckpt_path=logs/ptb_word_lstm_small/<time>/checkpoints/best-….ckpt

Prints the metrics as JSON and writes them to ``<run dir>/eval.json`` (or ``output_file=``); for a
classifier also its per-class precision, recall, F1 and support and the confusion matrix with the
label names (a table on stdout, ``classes`` in the file; :mod:`seqmodels.tasks.class_report`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import lightning as L
from omegaconf import DictConfig, OmegaConf, open_dict

from ..checkpoints import CHECKPOINT_KEY, load_checkpoint, to_plain
from ..checkpoints.resume import describe_encoder
from ..checkpoints.trust import check_targets
from ..tasks.class_report import format_report
from ..utils.io import atomic_write_bytes
from .app import hydra_command
from .instantiate import (
    MODEL_SIZES,
    TASK_SIZES,
    build,
    build_loggers,
    build_model,
    build_trainer,
    data_sizes,
    flush_denormal,
    lightning_false_alarms_silenced,
    null_fields,
    resolve_data_dir,
    setup_data,
)
from .options import check_ckpt_path, int_option
from .train import scalar_metrics


def evaluate(cfg: DictConfig) -> dict[str, float]:
    """Evaluate a checkpoint on the test (or validation) split; returns and prints the metrics.

    Data, model and task come from the config stored in the checkpoint. Data paths recorded under
    the training run's ``paths.data_dir`` are re-rooted at this run's ``paths.data_dir``, and
    ``cfg.data`` (``+data.batch_size=64``) is merged over the stored data config.
    """
    with flush_denormal(cfg):
        return _evaluate(cfg)


def _evaluate(cfg: DictConfig) -> dict[str, float]:
    if cfg.get("seed") is not None:
        L.seed_everything(int_option(cfg, "seed"), workers=True)
    ckpt_path = check_ckpt_path(cfg.ckpt_path)
    checkpoint = load_checkpoint(ckpt_path)
    extra = checkpoint[CHECKPOINT_KEY]
    stored, stored_encoder = extra.get("config"), extra.get("encoder")
    stored_features = (checkpoint.get("hyper_parameters") or {}).get("feature_vocabs")
    if not isinstance(stored, dict) or not all(k in stored for k in ("data", "model", "task")):
        raise ValueError(
            f"{ckpt_path}: the stored config lacks data/model/task sections; was it written by seqmodels-train?"
        )
    for section in ("data", "model", "task"):  # a _target_ is code: only trusted classes are instantiated
        check_targets(stored[section], ckpt_path, f"config.{section}")
    run = OmegaConf.create(stored)
    data_dir = resolve_data_dir(cfg)
    old_dir = (stored.get("paths") or {}).get("data_dir")
    if old_dir and str(old_dir) != str(data_dir):
        run.data = OmegaConf.create(_reroot(OmegaConf.to_container(run.data), str(old_dir), str(data_dir)))
    if cfg.get("data"):
        run.data = OmegaConf.merge(run.data, cfg.data)
    if stored_features:  # feature ids as in training, whatever the data now holds
        with open_dict(run.data):
            run.data.feature_vocabs = stored_features
    split = str(cfg.get("split", "test"))
    if split not in ("test", "val"):
        raise ValueError(f"split must be 'test' or 'val', got {split!r}")

    datamodule = setup_data(run, "test" if split == "test" else "validate")
    sizes = data_sizes(datamodule)
    _check_same_encoder(ckpt_path, stored_encoder, sizes.get("encoder"))
    for key in MODEL_SIZES:
        stored_value = run.model.get(key)
        if key in sizes and stored_value is not None and stored_value != sizes[key]:
            raise ValueError(
                f"{ckpt_path}: model.{key}={stored_value} in the checkpoint but the data gives {sizes[key]}; "
                "the data differs from the data the model was trained on"
            )
    model = build_model(run.model)
    task_kwargs = null_fields(run.task, sizes, TASK_SIZES)
    task = build(run.task, "task", model=model, config=stored, **task_kwargs)
    trainer = build_trainer(cfg, [], build_loggers(cfg))
    run_split = trainer.test if split == "test" else trainer.validate
    with lightning_false_alarms_silenced(datamodule):
        run_split(task, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    metrics = scalar_metrics(trainer.callback_metrics)
    if trainer.is_global_zero:
        report: dict[str, Any] = {"ckpt_path": ckpt_path, "split": split, **metrics}
        per_class = getattr(task, "class_report", None)
        if per_class is not None:
            print(format_report(per_class), flush=True)
        output = Path(str(cfg.get("output_file") or Path(str(cfg.paths.output_dir)) / "eval.json")).expanduser()
        document = {**report, **(per_class or {})}  # classes, macro, weighted, accuracy, support, confusion_matrix
        atomic_write_bytes(output, (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
        print(json.dumps({**report, "report": str(output)}, indent=2), flush=True)
    return metrics


def _check_same_encoder(ckpt_path: str, stored: Any, data: Any) -> None:
    """The data must tokenize and number tokens as the checkpoint's model was trained to."""
    if stored is not None and data is not None and stored != to_plain(data, "encoder"):
        raise ValueError(
            f"{ckpt_path}: the checkpoint's vocabulary/tokenizer ({describe_encoder(stored)}) differs from the data's "
            f"({describe_encoder(data)}): the data or its settings changed since training, so token ids would mean "
            "other tokens"
        )


def _reroot(value: Any, old: str, new: str) -> Any:
    """``value`` with every string starting with directory ``old`` moved under ``new``."""
    if isinstance(value, dict):
        return {k: _reroot(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_reroot(v, old, new) for v in value]
    if isinstance(value, str) and (value == old or value.startswith(old.rstrip(os.sep) + os.sep)):
        return new + value[len(old.rstrip(os.sep)) :] if value != old else new
    return value


@hydra_command("eval")
def main(cfg: DictConfig) -> None:  # the console script is seqmodels.commands.console.evaluate
    evaluate(cfg)
