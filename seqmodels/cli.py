"""Console scripts: ``seqmodels-train``, ``seqmodels-eval``, ``seqmodels-sample``, ``seqmodels-score``.

Each is ``hydra.main`` over a config of ``seqmodels/configs`` (shipped inside the package, so the
scripts work from any directory after ``pip install``) and calls the matching function of
:mod:`seqmodels.train`. Every Hydra option works: ``--help``, ``--cfg job``, ``-m`` (multirun),
``hydra.run.dir=...``. Heavy imports happen inside the functions so that ``--help`` is quick.

    seqmodels-train experiment=ptb_word_lstm_small trainer=gpu
    seqmodels-eval ckpt_path=logs/ptb_word_lstm_small/<time>/checkpoints/last.ckpt
    seqmodels-sample ckpt_path=... prompt="ROMEO:"
    seqmodels-score ckpt_path=... 'sentences=["the apple and pear salad","the apple and pair salad"]'
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

CONFIG_PATH = "configs"  # relative to this file: seqmodels/configs
VERSION_BASE = "1.3"


@hydra.main(version_base=VERSION_BASE, config_path=CONFIG_PATH, config_name="train")
def train_main(cfg: DictConfig) -> float | None:
    """Train; returns the monitored metric (what a sweeper such as Optuna minimises)."""
    from .train import train

    result = train(cfg)
    return result["metrics"].get(str(cfg.monitor.metric))


@hydra.main(version_base=VERSION_BASE, config_path=CONFIG_PATH, config_name="eval")
def eval_main(cfg: DictConfig) -> None:
    """Evaluate a checkpoint on the test split (``split=val`` for validation)."""
    from .train import evaluate

    evaluate(cfg)


@hydra.main(version_base=VERSION_BASE, config_path=CONFIG_PATH, config_name="sample")
def sample_main(cfg: DictConfig) -> None:
    """Generate text from a language-model checkpoint."""
    from .train import sample

    sample(cfg)


@hydra.main(version_base=VERSION_BASE, config_path=CONFIG_PATH, config_name="score")
def score_main(cfg: DictConfig) -> None:
    """Score sentences with a language-model checkpoint."""
    from .train import score

    score(cfg)
