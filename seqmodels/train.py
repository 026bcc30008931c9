"""The only wiring: configs become objects here, and nowhere else.

``train(cfg)``, ``evaluate(cfg)``, ``sample(cfg)`` and ``score(cfg)`` take a composed Hydra config
(``seqmodels/configs/{train,eval,sample,score}.yaml``) and run one command each; the console
scripts in :mod:`seqmodels.cli` are thin ``hydra.main`` wrappers around them, and the tests call
them in-process on configs composed with ``hydra.compose``.

Training builds, in order::

    data    = instantiate(cfg.data); data.prepare_data(); data.setup("fit")
    sizes   = vocab_size / num_classes / input_size / padding_idx / encoder / label_names of `data`
    model   = instantiate(cfg.model)          # its null size fields filled from `sizes` first
    task    = instantiate(cfg.task, model=model, config=<resolved cfg>, <null fields from sizes>)
    trainer = instantiate(cfg.trainer, logger=[...cfg.logger], callbacks=[...cfg.callbacks])
    trainer.fit(task, data, ckpt_path=cfg.ckpt_path)

A config field is filled from the data only when the yaml lists it with ``null``: the yaml shows
which sizes come from the data, and nothing is inferred behind its back.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import DictConfig, OmegaConf, open_dict

log = logging.getLogger(__name__)

# Sizes that only the data knows after setup(); a model/task yaml opts in by listing the key as null.
MODEL_SIZES = ("vocab_size", "num_classes", "input_size", "padding_idx", "feature_vocab_sizes")
TASK_SIZES = ("encoder", "num_classes", "label_names", "feature_vocabs")
# config sections not worth logging as hyper-parameters
NOT_HPARAMS = ("hydra", "paths", "logger", "callbacks")


# ---------------------------------------------------------------------------- building blocks
def build(node: Any, key: str, **kwargs: Any) -> Any:
    """``hydra.utils.instantiate(node, **kwargs)``, re-raising the constructor's own error.

    Hydra wraps an exception raised inside a ``_target_`` in ``InstantiationException``; a
    ``ValueError``/``TypeError``/``FileNotFoundError`` from our modules already names the bad
    argument, so it is re-raised as the same type, prefixed with the config key that built it
    (``model: num_layers must be a positive integer, got 0``).
    """
    if node is None or not isinstance(node, (DictConfig, Mapping)) or "_target_" not in node:
        raise ValueError(f"config key {key!r} must be a mapping with a _target_, got {_short(node)}")
    try:
        if "config" in kwargs:  # instantiate's own first parameter is named config: bind it afterwards
            config = kwargs.pop("config")
            factory = instantiate(node, _partial_=True, **kwargs)
            try:
                return factory(config=config)
            except (ValueError, TypeError, FileNotFoundError) as error:
                raise type(error)(_name_the_field(key, node, str(error))) from error
        return instantiate(node, **kwargs)
    except InstantiationException as error:
        cause = _root_cause(error)
        if isinstance(cause, MisconfigurationException):  # Lightning's name for a bad argument
            raise ValueError(_name_the_field(key, node, str(cause))) from error
        if isinstance(cause, (ValueError, TypeError, FileNotFoundError)) and not isinstance(cause, InstantiationException):
            raise type(cause)(_name_the_field(key, node, str(cause))) from error
        raise


def _name_the_field(key: str, node: Any, message: str) -> str:
    """``message`` with the config path in front: ``model.num_layers must be ...`` when the message
    starts with a field of ``node``, else ``model (seqmodels.models.X): <message>``."""
    first = message.split(" ", 1)[0].split("=", 1)[0].rstrip(":,")
    if first and first in node:
        return f"{key}.{message} [{node.get('_target_')}]"
    return f"{key} ({node.get('_target_')}): {message}"


def _root_cause(error: BaseException) -> BaseException:
    """The first exception in ``error``'s cause chain that Hydra did not raise."""
    seen = set()
    while isinstance(error, InstantiationException) and error.__cause__ is not None and id(error) not in seen:
        seen.add(id(error))
        error = error.__cause__
    return error


def _short(value: Any, limit: int = 80) -> str:
    text = repr(OmegaConf.to_container(value) if isinstance(value, DictConfig) else value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def resolve_data_dir(cfg: DictConfig) -> Path:
    """Make ``cfg.paths.data_dir`` absolute (relative to the working directory) and return it."""
    data_dir = Path(str(cfg.paths.data_dir)).expanduser().resolve()
    cfg.paths.data_dir = str(data_dir)
    return data_dir


def data_sizes(datamodule: Any) -> dict[str, Any]:
    """What the model and task need to know about the data, read from a set-up data module.

    ``vocab_size``, ``num_classes``, ``input_size``, ``label_names``, ``feature_vocab_sizes`` are the data module's attributes
    of those names; ``padding_idx`` is its vocabulary's ``pad_index``; ``encoder`` is its
    ``TextEncoder`` as a JSON-able dict. Absent or None values are left out.
    """
    vocab = getattr(datamodule, "vocab", None)
    encoder = getattr(datamodule, "encoder", None)
    label_names = getattr(datamodule, "label_names", None)
    feature_vocabs = getattr(datamodule, "feature_vocabs", None)
    sizes = {
        "vocab_size": getattr(datamodule, "vocab_size", None),
        "num_classes": getattr(datamodule, "num_classes", None),
        "input_size": getattr(datamodule, "input_size", None),
        "padding_idx": getattr(vocab, "pad_index", None) if vocab is not None else None,
        "label_names": list(label_names) if label_names is not None else None,
        "feature_vocab_sizes": getattr(datamodule, "feature_vocab_sizes", None),
        "feature_vocabs": [list(v.itos) for v in feature_vocabs] if feature_vocabs else None,
        "encoder": encoder.to_dict() if encoder is not None else None,
    }
    return {k: v for k, v in sizes.items() if v is not None}


def null_fields(node: DictConfig, sizes: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """The entries of ``sizes`` among ``keys`` that ``node`` lists with a null value."""
    return {k: sizes[k] for k in keys if k in node and node[k] is None and k in sizes}


def setup_data(cfg: DictConfig, stage: str) -> Any:
    """Instantiate ``cfg.data``, download/cache (``prepare_data``) and ``setup(stage)`` it."""
    datamodule = build(cfg.data, "data")
    datamodule.prepare_data()
    datamodule.setup(stage)
    return datamodule


def build_model_and_task(cfg: DictConfig, datamodule: Any) -> tuple[torch.nn.Module, L.LightningModule]:
    """The network (``cfg.model``, sizes filled from the data into the config) and its task.

    The task gets the fully resolved config as ``config`` (stored in every checkpoint, so that
    ``seqmodels-sample``/``-score``/``-eval`` can rebuild the network from the file alone).
    """
    sizes = data_sizes(datamodule)
    with open_dict(cfg.model):
        for key, value in null_fields(cfg.model, sizes, MODEL_SIZES).items():
            cfg.model[key] = value
    model = build(cfg.model, "model")
    resolved = OmegaConf.to_container(cfg, resolve=True)
    resolved.pop("hydra", None)
    task_kwargs = null_fields(cfg.task, sizes, TASK_SIZES)
    task = build(cfg.task, "task", model=model, config=resolved, **task_kwargs)
    return model, task


def build_loggers(cfg: DictConfig) -> list:
    """One logger per non-null entry of ``cfg.logger`` (a mapping name -> config)."""
    return _build_group(cfg.get("logger"), "logger")


def build_callbacks(cfg: DictConfig) -> list:
    """One callback per non-null entry of ``cfg.callbacks`` (a mapping name -> config)."""
    return _build_group(cfg.get("callbacks"), "callbacks")


def _build_group(group: DictConfig | None, key: str) -> list:
    if group is None:
        return []
    if not isinstance(group, (DictConfig, Mapping)):
        raise ValueError(f"{key} must map names to configs with a _target_, got {_short(group)}")
    built = []
    for name, node in group.items():
        if node is None:  # switched off, e.g. callbacks.early_stopping=null
            continue
        if not isinstance(node, (DictConfig, Mapping)) or "_target_" not in node:
            log.warning("%s.%s has no _target_ (%s): skipped", key, name, _short(node))
            continue
        built.append(build(node, f"{key}.{name}"))
    return built


# Trainer arguments that must be integers (Lightning fails on a string with a bare assertion)
TRAINER_INTS = ("max_epochs", "min_epochs", "max_steps", "min_steps", "log_every_n_steps", "num_sanity_val_steps",
                "accumulate_grad_batches", "check_val_every_n_epoch", "num_nodes")


def build_trainer(cfg: DictConfig, callbacks: list, loggers: list) -> L.Trainer:
    for key in TRAINER_INTS:
        value = cfg.trainer.get(key) if isinstance(cfg.trainer, (DictConfig, Mapping)) else None
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError(f"trainer.{key} must be an integer, got {_short(value)}")
    return build(cfg.trainer, "trainer", callbacks=callbacks, logger=loggers or False)


def hparams(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config without the bookkeeping sections, for the loggers' hyper-parameter tables."""
    container = OmegaConf.to_container(cfg, resolve=True)
    return {k: v for k, v in container.items() if k not in NOT_HPARAMS}


def find_checkpoint_callback(trainer: L.Trainer) -> ModelCheckpoint | None:
    return next((c for c in trainer.callbacks if isinstance(c, ModelCheckpoint)), None)


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


def _int_option(cfg: DictConfig, key: str) -> int:
    """``cfg[key]`` as an int, or a ``ValueError`` naming the key."""
    value = cfg.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{key} must be an integer, got {_short(value)}")
    return value


def set_flush_denormal(cfg: DictConfig) -> None:
    """Apply ``cfg.flush_denormal`` (default True) with ``torch.set_flush_denormal``: on CPU, denormal
    floats become zero. Call it before any parallel CPU work: threads started later inherit the setting."""
    wanted = cfg.get("flush_denormal", True)
    if not isinstance(wanted, bool):
        raise ValueError(f"flush_denormal must be true or false, got {wanted!r}")
    if not torch.set_flush_denormal(wanted) and wanted:
        log.warning("flush_denormal: this CPU cannot flush denormal floats (no SSE3); they stay as they are")


def check_ckpt_path(path: Any, key: str = "ckpt_path") -> str:
    """``path`` as a string if it names an existing file, else a ``FileNotFoundError`` naming ``key``."""
    if path is None or not str(path).strip():
        raise ValueError(f"{key} is required: pass {key}=<path to a .ckpt file>")
    if not Path(str(path)).expanduser().is_file():
        raise FileNotFoundError(f"{key}={path}: no such file (checkpoints are in <run dir>/checkpoints/)")
    return str(Path(str(path)).expanduser())


# ---------------------------------------------------------------------------- commands
def train(cfg: DictConfig) -> dict[str, Any]:
    """Train (or resume, with ``cfg.ckpt_path``) the configured task; optionally test; print a summary.

    Returns a dict: ``metrics`` (floats: last logged train/val metrics, plus ``test/*`` when
    ``cfg.test``), ``best_model_path``, ``last_model_path``, ``log_dir`` (TensorBoard),
    ``output_dir``, ``global_step``, ``sample`` (text, language models only), ``name``. The same
    figures, with the command, wall time and hardware, go to ``<output_dir>/result.json``.
    """
    from .checkpoint import load_checkpoint
    from .data.resumable import ResumableTrainData
    from .resume import check_resume, resolve_ckpt_path
    from .run_record import utc_now, write_result

    started_at, start = utc_now(), time.perf_counter()
    set_flush_denormal(cfg)

    if cfg.get("seed") is not None:
        L.seed_everything(_int_option(cfg, "seed"), workers=True)
    resolve_data_dir(cfg)
    ckpt_path = resolve_ckpt_path(cfg.get("ckpt_path"), cfg)  # `last`: this run directory's last.ckpt
    # read with weights_only=True (clear errors, no code runs) before anything else; Lightning's load is weights_only too
    resume_from = load_checkpoint(ckpt_path) if ckpt_path else None

    datamodule = setup_data(cfg, "fit")
    model, task = build_model_and_task(cfg, datamodule)
    if resume_from is not None:
        check_resume(ckpt_path, resume_from, task)
        del resume_from
    trainer = build_trainer(cfg, build_callbacks(cfg), build_loggers(cfg))
    for logger in trainer.loggers:
        logger.log_hyperparams(hparams(cfg))

    if cfg.get("train", True):
        if isinstance(datamodule, ResumableTrainData):  # it resumes mid-epoch through its own state_dict
            warnings.filterwarnings("ignore", message="You're resuming from a checkpoint that ended before the epoch")
        trainer.fit(task, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    metrics = scalar_metrics(trainer.callback_metrics)
    checkpoint = find_checkpoint_callback(trainer)
    best, last = checkpoint_paths(checkpoint)
    _log_hp_metric(trainer, cfg, metrics)

    if cfg.get("test", False):
        test_ckpt = best or (ckpt_path if not cfg.get("train", True) else None)
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
            result["sample"] = _final_sample(cfg, model, datamodule.encoder, best or last)
        _print_summary(result, cfg)
        # wall time, command, hardware and the figures above, for scripts/results.py and for people
        write_result(cfg.paths.output_dir, result, started_at, time.perf_counter() - start)
    return result


def _is_language_model(model: torch.nn.Module) -> bool:
    from .models import RNNLanguageModel

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


def _final_sample(cfg: DictConfig, model: torch.nn.Module, encoder: Any, checkpoint_path: str | None) -> str:
    """Text generated by the trained model: from the saved checkpoint when there is one (which also
    proves that it loads on its own), else from the in-memory weights."""
    from .generation import generate

    s = cfg.sample
    if checkpoint_path:
        from .checkpoint import load_language_model
        from .trust import iter_targets

        own = [t for _, t in iter_targets(OmegaConf.to_container(cfg.model, resolve=True))]  # this run's own config
        model, encoder, _ = load_language_model(checkpoint_path, trusted=own)
    model.eval()
    return generate(
        model,
        encoder,
        str(s.get("prompt") or ""),
        max_new_tokens=int(s.max_new_tokens),
        temperature=float(s.get("temperature", 1.0)),
        top_k=s.get("top_k"),
        top_p=s.get("top_p"),
        seed=s.get("seed"),
    )


def _print_summary(result: Mapping[str, Any], cfg: DictConfig) -> None:
    lines = ["", "=" * 72]
    for key, value in sorted(result["metrics"].items()):
        lines.append(f"{key:>24s}  {value:.4f}")
    if result["log_dir"]:
        lines.append(f"TensorBoard logs: {result['log_dir']}")
        lines.append(f"  view them with:  tensorboard --logdir {result['log_dir']}")
    lines.append(f"Best checkpoint:  {result['best_model_path'] or '(none)'}")
    lines.append(f"Last checkpoint:  {result['last_model_path'] or '(none)'}")
    if result["sample"] is not None:
        lines.append(f"Sample (prompt {str(cfg.sample.get('prompt') or '')!r}):")
        lines.append("-" * 72)
        lines.append(result["sample"])
        lines.append("-" * 72)
    lines.append("=" * 72)
    print("\n".join(lines), flush=True)


def evaluate(cfg: DictConfig) -> dict[str, float]:
    """Evaluate a checkpoint on the test (or validation) split; returns and prints the metrics.

    Data, model and task come from the config stored in the checkpoint. Data paths recorded under
    the training run's ``paths.data_dir`` are re-rooted at this run's ``paths.data_dir``, and
    ``cfg.data`` (``+data.batch_size=64``) is merged over the stored data config.
    """
    from .checkpoint import CHECKPOINT_KEY, load_checkpoint
    from .trust import check_targets

    set_flush_denormal(cfg)
    if cfg.get("seed") is not None:
        L.seed_everything(_int_option(cfg, "seed"), workers=True)
    ckpt_path = check_ckpt_path(cfg.ckpt_path)
    checkpoint = load_checkpoint(ckpt_path)
    extra = checkpoint[CHECKPOINT_KEY]
    stored, stored_encoder = extra.get("config"), extra.get("encoder")
    stored_features = (checkpoint.get("hyper_parameters") or {}).get("feature_vocabs")
    if not isinstance(stored, dict) or not all(k in stored for k in ("data", "model", "task")):
        raise ValueError(f"{ckpt_path}: the stored config lacks data/model/task sections; was it written by seqmodels-train?")
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
    model = build(run.model, "model")
    task_kwargs = null_fields(run.task, sizes, TASK_SIZES)
    task = build(run.task, "task", model=model, config=stored, **task_kwargs)
    trainer = build_trainer(cfg, [], build_loggers(cfg))
    run_split = trainer.test if split == "test" else trainer.validate
    run_split(task, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    metrics = scalar_metrics(trainer.callback_metrics)
    if trainer.is_global_zero:
        print(json.dumps({"ckpt_path": ckpt_path, "split": split, **metrics}, indent=2), flush=True)
    return metrics


def _check_same_encoder(ckpt_path: str, stored: Any, data: Any) -> None:
    """The data must tokenize and number tokens as the checkpoint's model was trained to."""
    from .checkpoint import to_plain
    from .resume import describe_encoder

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


def sample(cfg: DictConfig) -> list[str]:
    """Print ``cfg.num_samples`` texts generated from the checkpoint's language model; return them."""
    from .checkpoint import load_language_model
    from .generation import generate

    model, encoder, _ = load_language_model(check_ckpt_path(cfg.ckpt_path))
    num = int(cfg.get("num_samples", 1))
    if num < 1:
        raise ValueError(f"num_samples must be a positive integer, got {num}")
    seed = cfg.get("seed")
    texts = []
    for i in range(num):
        text = generate(
            model,
            encoder,
            str(cfg.get("prompt") or ""),
            max_new_tokens=int(cfg.max_new_tokens),
            temperature=float(cfg.temperature),
            top_k=cfg.get("top_k"),
            top_p=cfg.get("top_p"),
            seed=None if seed is None else int(seed) + i,
        )
        texts.append(text)
        print(text, flush=True)
        if i + 1 < num:
            print("-" * 72, flush=True)
    return texts


def score(cfg: DictConfig) -> list[dict[str, Any]]:
    """Print one JSON line per sentence: log-probability under the model, perplexity, token count."""
    from .checkpoint import load_language_model
    from .generation import score as score_sentences

    sentences = cfg.sentences
    if isinstance(sentences, str):
        sentences = [sentences]
    if not sentences or not all(isinstance(s, str) for s in sentences):
        raise ValueError(f"sentences must be a non-empty list of strings, e.g. 'sentences=[\"a b\",\"c d\"]', got {_short(sentences)}")
    model, encoder, _ = load_language_model(check_ckpt_path(cfg.ckpt_path))
    results = score_sentences(model, encoder, list(sentences))
    for row in results:
        print(json.dumps(row), flush=True)
    return results


def translate(cfg: DictConfig) -> list[str]:
    """Translate ``cfg.text`` (a sentence or a list) or the lines of ``cfg.input_file`` with a
    translation checkpoint; print the translations (or write them to ``cfg.output_file``), one per line."""
    from .decoding import load_translator
    from .decoding import translate as translate_texts

    text, input_file = cfg.get("text"), cfg.get("input_file")
    if (text is None) == (input_file is None):
        raise ValueError('give exactly one of text="a sentence" (or a list) and input_file=<path, one sentence per line>')
    if input_file is not None:
        path = Path(str(input_file)).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"input_file={input_file}: no such file")
        texts = path.read_text(encoding="utf-8").splitlines()
    else:
        texts = [text] if isinstance(text, str) else list(text)
        if not texts or not all(isinstance(t, str) for t in texts):
            raise ValueError(f'text must be a sentence or a list of sentences, e.g. text="ein Hund läuft .", got {_short(text)}')
    model, encoder, _ = load_translator(check_ckpt_path(cfg.ckpt_path), str(cfg.get("device", "cpu")))
    max_length = cfg.get("max_length")
    translations = translate_texts(
        model,
        encoder,
        texts,
        beam_size=int(cfg.get("beam_size", 5)),
        max_length=None if max_length is None else int(max_length),
        length_penalty=float(cfg.get("length_penalty", 1.0)),
        batch_size=int(cfg.get("batch_size", 32)),
    )
    if cfg.get("output_file"):
        Path(str(cfg.output_file)).expanduser().write_text("".join(t + "\n" for t in translations), encoding="utf-8")
    else:
        for line in translations:
            print(line, flush=True)
    return translations
