"""The console scripts ``seqmodels-train`` and ``seqmodels-eval``: Hydra composes the config from the command line
first, and the command's module (which imports Lightning, 3 to 5 s) is imported only once that succeeded, so a
mistake on the command line (an unknown key, a missing config group) is reported in about 2 s.

``seqmodels-predict``, ``-sample``, ``-score`` and ``-translate`` need no such step: their modules import no
Lightning (``tests/commands/test_startup.py``).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig

from .app import hydra_command


def _imported_when_run(module: str, function: str) -> Callable[[DictConfig], Any]:
    """``seqmodels.commands.<module>.<function>(cfg)``, its module imported at the first call."""

    def run(cfg: DictConfig) -> Any:
        lightning_log = logging.getLogger("lightning")
        configured = list(lightning_log.handlers)
        try:
            command = importlib.import_module(f"{__package__}.{module}")
        except Exception as error:  # a broken installation, not a mistake on the command line (USER_ERRORS)
            raise RuntimeError(f"cannot import seqmodels.commands.{module}: {error}") from error
        # importing Lightning gives its logger a console handler; Hydra's logging config, applied before the
        # import here, sends Lightning's messages to the run's log file only (configs/hydra/default.yaml)
        lightning_log.handlers = configured
        return getattr(command, function)(cfg)

    return run


train = hydra_command("train")(_imported_when_run("train", "train_for_hydra"))
evaluate = hydra_command("eval")(_imported_when_run("evaluate", "evaluate"))
