"""``seqmodels-train``: train (or resume) an experiment; print where the logs, checkpoints and a sample went.

    seqmodels-train experiment=ptb_word_lstm_small trainer=gpu

:func:`train` takes a composed config (``configs/train.yaml``); :func:`main` is the console script
(``hydra.main`` over the same config), and the tests call :func:`train` in-process.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import DictConfig, OmegaConf

from ..callbacks.profiler import report_destination
from ..checkpoints import CHECKPOINT_KEY, load_checkpoint, load_language_model
from ..checkpoints.resume import check_resume, resolve_ckpt_path
from ..checkpoints.trust import iter_targets
from ..data.resumable import ResumableTrainData
from ..inference.conditional import condition_or_typical, is_conditional, load_conditions
from ..inference.generation import generate
from ..models import RNNLanguageModel
from ..utils.allocator import keep_freed_memory
from .app import hydra_command
from .data_paths import absolute_data_paths
from .instantiate import (
    build_callbacks,
    build_loggers,
    build_model_and_task,
    build_trainer,
    flush_denormal,
    hparams,
    lightning_false_alarms_silenced,
    resolve_data_dir,
    setup_data,
)
from .model_init import lm_vocabulary
from .options import bool_option, int_option
from .run_record import utc_now, write_result

log = logging.getLogger(__name__)
report_log = logging.getLogger("seqmodels.report")  # the run's log file only (configs/hydra/default.yaml)


def train(cfg: DictConfig, extra_callbacks: Sequence[L.Callback] = ()) -> dict[str, Any]:
    """Train (or resume, with ``cfg.ckpt_path``) the configured task; optionally test; print a summary.

    ``extra_callbacks`` join those of ``cfg.callbacks`` (the end-to-end benchmark times the steps with one).

    Returns a dict: ``metrics`` (floats: last logged train/val metrics, plus ``test/*`` when
    ``cfg.test``), ``best_model_path``, ``last_model_path``, ``log_dir`` (TensorBoard),
    ``output_dir``, ``global_step``, ``sample`` (text, language models only), ``name``. The same
    figures, with the command, wall time and hardware, go to ``<output_dir>/result.json``.
    """
    with flush_denormal(cfg):
        return _train(cfg, extra_callbacks)


def _train(cfg: DictConfig, extra_callbacks: Sequence[L.Callback]) -> dict[str, Any]:
    started_at, start = utc_now(), time.perf_counter()

    if bool_option(cfg, "keep_freed_memory", True):
        keep_freed_memory()
    if cfg.get("seed") is not None:
        L.seed_everything(int_option(cfg, "seed"), workers=True)
    resolve_data_dir(cfg)
    absolute_data_paths(cfg)  # the stored config then finds the user's files from any working directory
    ckpt_path = resolve_ckpt_path(cfg.get("ckpt_path"), cfg)  # `last`: this run directory's last.ckpt
    # read with weights_only=True (clear errors, no code runs) before anything else; Lightning's load is weights_only too
    resume_from = load_checkpoint(ckpt_path) if ckpt_path else None

    log.info(
        "run %s: output in %s%s", cfg.get("name"), cfg.paths.output_dir, f", resuming {ckpt_path}" if ckpt_path else ""
    )
    resumed = (resume_from or {}).get(CHECKPOINT_KEY) if ckpt_path else None
    datamodule = setup_data(cfg, "fit", encoder=lm_vocabulary(cfg, resumed))
    model, task = build_model_and_task(cfg, datamodule, fresh=not ckpt_path)  # resuming: init_from is not read
    log.info("model %s: %s parameters", type(model).__name__, f"{sum(p.numel() for p in model.parameters()):,}")
    if ckpt_path and resume_from is not None:
        check_resume(ckpt_path, resume_from, task)
        del resume_from
    trainer = build_trainer(cfg, [*build_callbacks(cfg), *extra_callbacks], build_loggers(cfg))
    for logger in trainer.loggers:
        logger.log_hyperparams(hparams(cfg))

    if cfg.get("train", True):
        if isinstance(datamodule, ResumableTrainData):  # it resumes mid-epoch through its own state_dict
            warnings.filterwarnings("ignore", message="You're resuming from a checkpoint that ended before the epoch")
        with lightning_false_alarms_silenced(datamodule):
            trainer.fit(task, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    metrics = scalar_metrics(trainer.callback_metrics)
    checkpoint = find_checkpoint_callback(trainer)
    best, last = checkpoint_paths(checkpoint)
    _log_hp_metric(trainer, cfg, metrics)

    if cfg.get("test", False) and has_test_split(datamodule):
        test_ckpt = best or (ckpt_path if not cfg.get("train", True) else None)
        with lightning_false_alarms_silenced(datamodule):
            trainer.test(task, datamodule=datamodule, ckpt_path=test_ckpt, weights_only=True)
        metrics.update(scalar_metrics(trainer.callback_metrics))

    result = {
        "metrics": metrics,
        "best_model_path": best,
        "last_model_path": last,
        "log_dir": tensorboard_dir(trainer),
        "output_dir": str(cfg.paths.output_dir),
        "global_step": trainer.global_step,
        "epochs": trainer.current_epoch,  # completed training epochs
        "accelerator": type(trainer.accelerator).__name__ if trainer.accelerator is not None else None,
        "devices": trainer.num_devices,
        "sample": None,
        "name": str(cfg.get("name", "")),
    }
    if trainer.is_global_zero:
        if getattr(datamodule, "encoder", None) is not None and _is_language_model(model) and cfg.get("sample"):
            conditions = getattr(datamodule, "conditions", None)
            result["sample"] = _final_sample(cfg, model, datamodule.encoder, best or last, conditions)
        _print_summary(result, cfg, report_destination(getattr(trainer, "profiler", None)))
        # wall time, command, hardware and the figures above, for scripts/results.py and for people
        write_result(cfg.paths.output_dir, result, started_at, time.perf_counter() - start)
    return result


def has_test_split(datamodule: Any) -> bool:
    """Whether a set-up data module has a test split; a classification data module built from the user's
    files without a test file has none, and ``test=true`` then skips the test with a warning instead of
    failing after the training. Data modules without ``datasets`` (language modeling) are asked their
    corpus's ``splits``."""
    datasets = getattr(datamodule, "datasets", None)
    if isinstance(datasets, dict) and datasets:
        present = "test" in datasets
    else:
        splits = getattr(getattr(datamodule, "corpus", None), "splits", None)
        present = splits is None or "test" in splits
    if not present:
        log.warning("test=true but the data has no test split (e.g. no data.test file): the test is skipped")
    return present


def _is_language_model(model: torch.nn.Module) -> bool:
    return isinstance(model, RNNLanguageModel)


def _log_hp_metric(trainer: L.Trainer, cfg: DictConfig, metrics: Mapping[str, float]) -> None:
    """Log the monitored metric as ``hp_metric`` so TensorBoard's HPARAMS tab ties it to the config."""
    value = metrics.get(str(cfg.monitor.metric)) if cfg.get("monitor") else None
    checkpoint = find_checkpoint_callback(trainer)
    if checkpoint is not None and checkpoint.best_model_score is not None:
        value = float(checkpoint.best_model_score)
    if value is None or not math.isfinite(value):
        return
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.log_metrics({"hp_metric": value}, step=trainer.global_step)
            logger.save()


def _final_sample(
    cfg: DictConfig, model: torch.nn.Module, encoder: Any, checkpoint_path: str | None, conditions: Any = None
) -> str:
    """Text generated by the trained model: from the saved checkpoint when there is one (which also
    proves that it loads on its own), else from the in-memory weights. A conditional model samples under
    ``sample.condition``, else its data's typical condition (``conditions``, the checkpoint's when read)."""
    s = cfg.sample
    if checkpoint_path:
        own = [t for _, t in iter_targets(OmegaConf.to_container(cfg.model, resolve=True))]  # this run's own config
        model, encoder, _ = load_language_model(checkpoint_path, trusted=own)
        conditions = load_conditions(checkpoint_path) if is_conditional(model) else None
    model.eval()
    condition = condition_or_typical(model, conditions, s.get("condition"), checkpoint_path or "the trained model")
    return generate(
        model,
        encoder,
        str(s.get("prompt") or ""),
        max_new_tokens=int(s.max_new_tokens),
        temperature=float(s.get("temperature", 1.0)),
        top_k=s.get("top_k"),
        top_p=s.get("top_p"),
        seed=s.get("seed"),
        condition=condition,
    )


def _print_summary(result: Mapping[str, Any], cfg: DictConfig, profiler_report: str | None = None) -> None:
    lines = ["", "=" * 72]
    for key, value in sorted(result["metrics"].items()):
        lines.append(f"{key:>24s}  {value:.4f}")
    if result["log_dir"]:
        lines.append(f"TensorBoard logs: {result['log_dir']}")
        lines.append(f"  view them with:  tensorboard --logdir {result['log_dir']}")
    lines.append(f"Best checkpoint:  {result['best_model_path'] or '(none)'}")
    lines.append(f"Last checkpoint:  {result['last_model_path'] or '(none)'}")
    if profiler_report is not None:
        lines.append(f"Profiler report:  {profiler_report}")
    if result["sample"] is not None:
        lines.append(f"Sample (prompt {str(cfg.sample.get('prompt') or '')!r}):")
        lines.append("-" * 72)
        lines.append(result["sample"])
        lines.append("-" * 72)
    lines.append("=" * 72)
    text = "\n".join(lines)
    print(text, flush=True)
    report_log.info("%s", text)


def find_checkpoint_callback(trainer: L.Trainer) -> ModelCheckpoint | None:
    return next((c for c in trainer.checkpoint_callbacks if isinstance(c, ModelCheckpoint)), None)


def checkpoint_paths(checkpoint: ModelCheckpoint | None) -> tuple[str | None, str | None]:
    """(best, last) checkpoint files, None where absent. ``last`` is looked up on disk too: a spawned
    DDP run (ddp_spawn) sends only ``best_model_path`` back to the main process."""
    if checkpoint is None:
        return None, None
    best = checkpoint.best_model_path or None
    last = checkpoint.last_model_path or None
    if last is None and checkpoint.save_last and checkpoint.dirpath:
        candidate = Path(checkpoint.dirpath) / f"{checkpoint.CHECKPOINT_NAME_LAST}{checkpoint.FILE_EXTENSION}"
        last = str(candidate) if candidate.is_file() else None
    return best, last


def tensorboard_dir(trainer: L.Trainer) -> str | None:
    return next((lg.log_dir for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)), None)


def scalar_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """Tensor/number metrics as plain floats (for printing, returning and JSON)."""
    out = {}
    for key, value in metrics.items():
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            out[key] = float(value.item())
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = float(value)
    return out


def train_for_hydra(cfg: DictConfig) -> float | None:
    """Train; returns the monitored metric (what a sweeper such as Optuna minimises)."""
    result = train(cfg)
    return result["metrics"].get(str(cfg.monitor.metric))


main = hydra_command("train")(train_for_hydra)  # the console script is seqmodels.commands.console.train
