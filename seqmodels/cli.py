"""Console scripts: ``seqmodels-train``, ``seqmodels-eval``, ``seqmodels-sample``, ``seqmodels-score``,
``seqmodels-translate``.

Each is ``hydra.main`` over a config of ``seqmodels/configs`` (shipped inside the package, so the
scripts work from any directory after ``pip install``) and calls the matching function of
:mod:`seqmodels.train`. Every Hydra option works: ``--help``, ``--cfg job``, ``-m`` (multirun),
``hydra.run.dir=...``. Heavy imports happen inside the functions so that ``--help`` is quick.

    seqmodels-train experiment=ptb_word_lstm_small trainer=gpu
    seqmodels-eval ckpt_path=logs/ptb_word_lstm_small/<time>/checkpoints/last.ckpt
    seqmodels-sample ckpt_path=... prompt="ROMEO:"
    seqmodels-score ckpt_path=... 'sentences=["the apple and pear salad","the apple and pair salad"]'
    seqmodels-translate ckpt_path=... text="ein Mann fährt Fahrrad ." beam_size=5
"""

from __future__ import annotations

import sys

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


@hydra.main(version_base=VERSION_BASE, config_path=CONFIG_PATH, config_name="translate")
def _translate(cfg: DictConfig) -> None:
    from .train import translate

    translate(cfg)


def quote_text_override(argv: list[str]) -> list[str]:
    """``text=ein Mann fährt Fahrrad .`` (what the shell makes of ``text="..."``) as a quoted Hydra value.

    Hydra's override grammar refuses unquoted values with characters such as ``ä`` or ``,``; any
    ``text=`` value that is not already quoted or a list is single-quoted, with ``\\`` and ``'`` escaped.
    """
    out = []
    for arg in argv:
        key, sep, value = arg.partition("=")
        if sep and key.lstrip("+~") == "text" and value and value[0] not in "'\"[":
            arg = f"{key}='" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
        out.append(arg)
    return out


def translate_main() -> None:
    """Translate a sentence (``text=...``) or a file (``input_file=...``) with a translation checkpoint."""
    sys.argv[1:] = quote_text_override(sys.argv[1:])
    _translate()
