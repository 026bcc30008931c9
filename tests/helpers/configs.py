"""Helpers shared by the CLI/config tests: compose the packaged configs, find the console scripts.

``compose_config`` is what ``hydra.main`` does minus the run directory: the tests point
``paths.output_dir`` at a temporary folder and ``paths.data_dir`` at the shared data.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf, open_dict

from seqmodels.commands.app import CONFIG_DIR, VERSION_BASE

from .paths import DATA_DIR_ENV, resolve_data_dir

EXPERIMENTS = sorted(p.stem for p in (CONFIG_DIR / "experiment").glob("*.yaml"))
CELLS = sorted(p.stem for p in (CONFIG_DIR / "model" / "cell").glob("*.yaml"))

# Shrinks any run to test size without changing what it exercises (no progress bar, no summary table).
QUIET = ["~callbacks.rich_progress_bar", "trainer.enable_model_summary=false"]


def compose_config(
    overrides: Sequence[str] = (), output_dir: Path | None = None, config_name: str = "train"
) -> DictConfig:
    """The composed config ``config_name`` with ``overrides``; output under ``output_dir``."""
    with initialize_config_dir(str(CONFIG_DIR), version_base=VERSION_BASE):
        cfg = compose(config_name, overrides=list(overrides))
    if "paths" in cfg:
        with open_dict(cfg):
            if output_dir is not None:
                cfg.paths.output_dir = str(output_dir)
            cfg.paths.data_dir = str(resolve_data_dir())
    return cfg


def script(name: str) -> str:
    """Absolute path of console script ``name`` installed next to the running Python."""
    candidate = Path(sys.executable).parent / name
    found = str(candidate) if candidate.exists() else shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"console script {name} not found next to {sys.executable}: pip install -e .")
    return found


def cli_env(**extra: str) -> dict[str, str]:
    """The environment for a console-script subprocess: data dir set, a few threads, no colours."""
    env = dict(os.environ)
    env[DATA_DIR_ENV] = str(resolve_data_dir())
    env.setdefault("OMP_NUM_THREADS", "2")
    env["NO_COLOR"] = "1"
    env["HYDRA_FULL_ERROR"] = "1"
    env.update(extra)
    return env


# applied wherever the key exists in the composed config (a missing key is left alone)
TINY = {
    "model.embedding_dim": 8,
    "model.hidden_size": 12,
    "model.num_layers": 1,
    "data.batch_size": 4,
    "data.eval_batch_size": 4,
    "data.bptt": 16,
    "data.max_length": 40,
    "data.task.seq_len": 12,
    "data.task.num_train": 64,
    "data.task.num_val": 16,
    "data.task.num_test": 16,
    "sample.max_new_tokens": 12,
    "task.sample_length": 12,
}
# applied by shrink() only: the CLI tests pass TINY as overrides of the default config, which lacks these
TINY_EXPERIMENTS = {
    "data.corpus.max_files": 24,  # MIDI corpora: a seeded subset of the files
    "data.corpus.max_reviews": 200,  # IMDB's reviews as language-model text: a seeded subset
}


def shrink(cfg: DictConfig, **extra) -> DictConfig:
    """Set every key of TINY (and ``extra``) that ``cfg`` has; ``model.embedding_dim`` only when set."""
    with open_dict(cfg):
        for key, value in {**TINY, **TINY_EXPERIMENTS, **extra}.items():
            parent, _, leaf = key.rpartition(".")
            node = OmegaConf.select(cfg, parent) if parent else cfg
            if isinstance(node, DictConfig) and leaf in node and not (leaf == "embedding_dim" and node[leaf] is None):
                node[leaf] = value
    return cfg


def missing_data(cfg: DictConfig) -> str | None:
    """Why the experiment cannot run here (its corpus folder is absent, or it reads files the user names), or None."""
    data = OmegaConf.select(cfg, "data")
    if isinstance(data, DictConfig) and "train" in data.keys() and OmegaConf.is_missing(data, "train"):
        return f"experiment {cfg.name} reads the user's files (data.train=...): run in tests/commands/test_*_cli.py"
    if OmegaConf.select(cfg, "model.init_from") == "<required>":
        return f"experiment {cfg.name} starts from a language model (model.init_from=...): see tests/commands/test_init_from.py"
    for key in ("data.corpus.path", "data.path", "data.train", "data.valid", "data.test"):
        path = OmegaConf.select(cfg, key, throw_on_missing=False)
        if isinstance(path, str) and not any(c in path for c in "*?[") and not Path(path).exists():
            return f"data for experiment {cfg.name} not found at {path} ({key}; set SEQMODELS_DATA_DIR)"
    return None
