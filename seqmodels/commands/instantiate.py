"""Configs become objects here: the instantiation helpers every command uses.

Training builds, in order::

    data    = instantiate(cfg.data); data.prepare_data(); data.setup("fit")
    sizes   = vocab_size / num_classes / input_size / padding_idx / encoder / label_names of `data`
    model   = instantiate(cfg.model)          # its null size fields filled from `sizes` first
              then model.init_from / pretrained_embeddings / freeze_embeddings (model_init.py)
    task    = instantiate(cfg.task, model=model, config=<resolved cfg>, <null fields from sizes>)
    trainer = instantiate(cfg.trainer, logger=[...cfg.logger], callbacks=[...cfg.callbacks])

A config field is filled from the data only when the yaml lists it with ``null``: the yaml shows
which sizes come from the data, and nothing is inferred behind its back. A constructor's own
``ValueError``/``TypeError``/``FileNotFoundError`` is re-raised with the config key in front.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import lightning as L
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import LearningRateMonitor, ProgressBar
from lightning.pytorch.callbacks import ModelSummary as LightningModelSummary
from omegaconf import DictConfig, OmegaConf, open_dict

from ..callbacks.model_summary import ModelSummary
from .app import ConfigTypeError
from .model_init import apply_model_init, strip_init_keys
from .options import bool_option, short

log = logging.getLogger(__name__)

# Sizes that only the data knows after setup(); a model/task yaml opts in by listing the key as null.
MODEL_SIZES = (
    "vocab_size",
    "num_classes",
    "input_size",
    "padding_idx",
    "feature_vocab_sizes",
    "condition_sizes",
    "condition_features",
)
TASK_SIZES = ("encoder", "num_classes", "label_names", "feature_vocabs")
# config sections not worth logging as hyper-parameters
NOT_HPARAMS = ("hydra", "paths", "logger", "callbacks")


def _renamed(error: Exception, key: str, node: Any) -> Exception:
    """``error`` as the same kind of exception with the config key in front of its message."""
    kind = ConfigTypeError if isinstance(error, TypeError) else type(error)
    message = _name_the_field(key, node, str(error))
    try:
        return kind(message)
    except TypeError:  # an exception type with a constructor of its own (UnicodeDecodeError, ...)
        return ValueError(message)


def build(node: Any, key: str, **kwargs: Any) -> Any:
    """``hydra.utils.instantiate(node, _partial_=True)(**kwargs)``, re-raising the constructor's own error.

    Hydra wraps an exception raised inside a ``_target_`` in ``InstantiationException``; a
    ``ValueError``/``TypeError``/``FileNotFoundError`` from our modules already names the bad
    argument, so it is re-raised as the same type, prefixed with the config key that built it
    (``model: num_layers must be a positive integer, got 0``).
    """
    if node is None or not isinstance(node, (DictConfig, Mapping)) or "_target_" not in node:
        raise ValueError(f"config key {key!r} must be a mapping with a _target_, got {short(node)}")
    try:
        if kwargs:
            # bound after instantiate: Hydra would wrap them in OmegaConf nodes first (seconds for a 10k-word
            # vocabulary in an encoder), and its own first parameter is named config
            factory = instantiate(node, _partial_=True)
            try:
                return factory(**kwargs)
            except MisconfigurationException as error:  # Lightning's name for a bad argument
                raise ValueError(_name_the_field(key, node, str(error))) from error
            except (ValueError, TypeError, FileNotFoundError) as error:
                raise _renamed(error, key, node) from error
        return instantiate(node)
    except InstantiationException as error:
        cause = _root_cause(error)
        if isinstance(cause, MisconfigurationException):  # Lightning's name for a bad argument
            raise ValueError(_name_the_field(key, node, str(cause))) from error
        if isinstance(cause, (ValueError, TypeError, FileNotFoundError)) and not isinstance(
            cause, InstantiationException
        ):
            raise _renamed(cause, key, node) from error
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


def resolve_data_dir(cfg: DictConfig) -> Path:
    """Make ``cfg.paths.data_dir`` absolute (relative to the working directory) and return it."""
    data_dir = Path(str(cfg.paths.data_dir)).expanduser().resolve()
    cfg.paths.data_dir = str(data_dir)
    return data_dir


def data_sizes(datamodule: Any) -> dict[str, Any]:
    """What the model and task need to know about the data, read from a set-up data module.

    ``vocab_size``, ``num_classes``, ``input_size``, ``label_names``, ``feature_vocab_sizes``, ``condition_sizes``,
    ``condition_features`` (a conditional language model's data) are the data module's attributes
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
        "condition_sizes": getattr(datamodule, "condition_sizes", None),
        "condition_features": getattr(datamodule, "condition_features", None),
        "feature_vocabs": [list(v.itos) for v in feature_vocabs] if feature_vocabs else None,
        "encoder": encoder.to_dict() if encoder is not None else None,
    }
    return {k: v for k, v in sizes.items() if v is not None}


def null_fields(node: DictConfig, sizes: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """The entries of ``sizes`` among ``keys`` that ``node`` lists with a null value."""
    return {k: sizes[k] for k in keys if k in node and node[k] is None and k in sizes}


def setup_data(cfg: DictConfig, stage: str, encoder: Any = None) -> Any:
    """Instantiate ``cfg.data``, download/cache (``prepare_data``) and ``setup(stage)`` it; ``encoder``, when given,
    is the data module's text encoder instead of one built from the training text (``model.lm_vocabulary``)."""
    datamodule = build(cfg.data, "data", encoder=encoder) if encoder is not None else build(cfg.data, "data")
    datamodule.prepare_data()
    datamodule.setup(stage)
    return datamodule


def build_model_and_task(
    cfg: DictConfig, datamodule: Any, fresh: bool = True
) -> tuple[torch.nn.Module, L.LightningModule]:
    """The network (``cfg.model``, sizes filled from the data into the config) and its task.

    The network starts where ``model.init_from``/``pretrained_embeddings``/``freeze_embeddings`` say
    (:mod:`.model_init`); ``fresh=False`` (a resumed run, whose checkpoint replaces the weights) reads no file.
    The task gets the fully resolved config as ``config`` (stored in every checkpoint, so that
    ``seqmodels-sample``/``-score``/``-eval`` can rebuild the network from the file alone).
    """
    sizes = data_sizes(datamodule)
    with open_dict(cfg.model):
        for key, value in null_fields(cfg.model, sizes, MODEL_SIZES).items():
            cfg.model[key] = value
    model = build_model(cfg.model)
    apply_model_init(cfg.model, model, datamodule, fresh=fresh)
    resolved = resolved_dict(cfg)
    resolved.pop("hydra", None)
    task_kwargs = null_fields(cfg.task, sizes, TASK_SIZES)
    task = build(cfg.task, "task", model=model, config=resolved, **task_kwargs)
    return model, task


def build_model(node: DictConfig) -> torch.nn.Module:
    """The network of the model config ``node``, built without the keys that say where its weights start
    (:data:`~seqmodels.checkpoints.loading.MODEL_INIT_KEYS`: no constructor arguments)."""
    return build(strip_init_keys(node), "model")


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
        raise ValueError(f"{key} must map names to configs with a _target_, got {short(group)}")
    built = []
    for name, node in group.items():
        if node is None:  # switched off, e.g. callbacks.early_stopping=null
            continue
        if not isinstance(node, (DictConfig, Mapping)) or "_target_" not in node:
            log.warning("%s.%s has no _target_ (%s): skipped", key, name, short(node))
            continue
        built.append(build(node, f"{key}.{name!s}"))
    return built


# Trainer arguments that must be integers (Lightning fails on a string with a bare assertion)
TRAINER_INTS = (
    "max_epochs",
    "min_epochs",
    "max_steps",
    "min_steps",
    "log_every_n_steps",
    "num_sanity_val_steps",
    "accumulate_grad_batches",
    "check_val_every_n_epoch",
    "num_nodes",
)


def build_trainer(cfg: DictConfig, callbacks: list, loggers: list) -> L.Trainer:
    for key in TRAINER_INTS:
        value = cfg.trainer.get(key) if isinstance(cfg.trainer, (DictConfig, Mapping)) else None
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError(f"trainer.{key} must be an integer, got {short(value)}")
    if not loggers:  # logger=none: a learning-rate monitor has nowhere to write (Lightning refuses it at fit)
        kept = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
        if len(kept) < len(callbacks):
            log.info("logger=none: the learning-rate monitor is left out (it writes to a logger)")
        callbacks = kept
    trainer_cfg = cfg.trainer if isinstance(cfg.trainer, (DictConfig, Mapping)) else {}
    if trainer_cfg.get("enable_progress_bar") is False:  # Lightning refuses a progress-bar callback with it
        kept = [c for c in callbacks if not isinstance(c, ProgressBar)]
        if len(kept) < len(callbacks):
            log.info("trainer.enable_progress_bar=false: the progress bar callback is left out")
        callbacks = kept
    if trainer_cfg.get("enable_model_summary") is not False and not any(
        isinstance(c, LightningModelSummary) for c in callbacks
    ):
        callbacks = [*callbacks, ModelSummary()]  # Lightning's, but without FLOPs it never counted
    return build(cfg.trainer, "trainer", callbacks=callbacks, logger=loggers or False)


def hparams(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config without the bookkeeping sections, for the loggers' hyper-parameter tables."""
    return {k: v for k, v in resolved_dict(cfg).items() if k not in NOT_HPARAMS}


def resolved_dict(cfg: DictConfig) -> dict[str, Any]:
    """``cfg`` as plain dicts and lists, interpolations resolved (a DictConfig's container is a dict)."""
    return cast(dict[str, Any], OmegaConf.to_container(cfg, resolve=True))


def set_flush_denormal(cfg: DictConfig) -> None:
    """Apply ``cfg.flush_denormal`` (default True) with ``torch.set_flush_denormal``: on CPU, denormal
    floats become zero. Call it before any parallel CPU work: threads started later inherit the setting."""
    wanted = bool_option(cfg, "flush_denormal", True)
    if not torch.set_flush_denormal(wanted) and wanted:
        log.warning("flush_denormal: this CPU cannot flush denormal floats (no SSE3); they stay as they are")


def denormals_flushed() -> bool:
    """Whether this thread flushes denormal floats now (torch has no getter: a float64 denormal reads as 0)."""
    return torch.tensor([1e-323], dtype=torch.float64).item() == 0.0


@contextmanager
def flush_denormal(cfg: DictConfig) -> Iterator[None]:
    """:func:`set_flush_denormal` for the length of a command, then the caller's setting again: ``train(cfg)``
    called from a notebook or a test leaves the process's floating-point mode as it found it."""
    before = denormals_flushed()
    set_flush_denormal(cfg)
    try:
        yield
    finally:
        torch.set_flush_denormal(before)


LEAFSPEC_DEPRECATION = r"`isinstance\(treespec, LeafSpec\)` is deprecated"
ITERABLE_LENGTH_WARNING = r"Your `IterableDataset` has `__len__` defined"
TASK_TRANSFER_HOOK_NOTICE = r"You have overridden `transfer_batch_to_device` in `LightningModule` but have passed in"


@contextmanager
def lightning_false_alarms_silenced(datamodule: Any) -> Iterator[None]:
    """For the length of a fit, validation or test: silence three warnings that Lightning gives on every run and
    that a user can do nothing about.

    * torch's ``FutureWarning`` that ``LeafSpec`` is deprecated, which Lightning's own ``_pytree`` (2.6) raises
      when it builds one for each loader;
    * "Your `IterableDataset` has `__len__` defined ... (when num_workers > 1)", only when ``datamodule`` says
      that its iterable datasets give each worker its own batches (``datasets_shard_by_worker``), so that their
      length holds. A user's own datamodule still gets the warning;
    * "You have overridden `transfer_batch_to_device` in `LightningModule` but have passed in a
      `LightningDataModule`": the tasks override it on purpose, to keep a batch's lengths on the host
      (:mod:`seqmodels.tasks.batch_transfer`), and Lightning uses the task's, as wanted.

    The filters hold in this process: workers that ``ddp_spawn`` starts (``trainer=ddp_sim``) warn as before.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=LEAFSPEC_DEPRECATION, category=FutureWarning)
        warnings.filterwarnings("ignore", message=TASK_TRANSFER_HOOK_NOTICE)
        if getattr(datamodule, "datasets_shard_by_worker", False) is True:
            warnings.filterwarnings("ignore", message=ITERABLE_LENGTH_WARNING)
        yield
