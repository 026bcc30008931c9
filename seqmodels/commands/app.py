"""What every console script shares: where the configs are, the user's own config folders, ``hydra.main``.

The configs live in ``configs/`` at the repository root; a built wheel carries them inside the
package as ``seqmodels/configs`` (``pyproject.toml`` maps the folder there), so an installed
command finds them from any directory. :data:`CONFIG_DIR` is whichever of the two exists.

A user's own config folder (a new cell, data set or experiment) is searched too, without
``hydra.searchpath=[…]`` on every command: each folder of ``$SEQMODELS_CONFIG_PATH`` (separated by
``os.pathsep``) and a ``configs/`` folder in the working directory, in that order, unless the command
line sets ``hydra.searchpath`` itself.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

VERSION_BASE = "1.3"
CONFIG_PATH_ENV = "SEQMODELS_CONFIG_PATH"


def _config_dir() -> Path:
    package = Path(__file__).resolve().parents[1]
    installed = package / "configs"  # inside a wheel: seqmodels/configs
    return installed if installed.is_dir() else package.parent / "configs"  # a checkout: <repo>/configs


CONFIG_DIR = _config_dir()


def user_config_dirs(cwd: Path | None = None, environ: dict[str, str] | None = None) -> list[Path]:
    """The user's config folders that exist: ``$SEQMODELS_CONFIG_PATH``'s, then ``./configs``."""
    environ = os.environ if environ is None else environ
    cwd = Path.cwd() if cwd is None else cwd
    found = []
    for entry in environ.get(CONFIG_PATH_ENV, "").split(os.pathsep):
        if not entry:
            continue
        folder = Path(entry).expanduser().resolve()
        if not folder.is_dir():
            raise FileNotFoundError(f"{CONFIG_PATH_ENV}={environ[CONFIG_PATH_ENV]}: {folder} is not a folder")
        found.append(folder)
    local = (cwd / "configs").resolve()
    if local.is_dir() and local != CONFIG_DIR.resolve() and local not in found:
        found.append(local)
    return found


def with_user_configs(argv: list[str], folders: list[Path]) -> list[str]:
    """``argv`` plus a ``hydra.searchpath`` override naming ``folders``, unless it sets one already."""
    if not folders or any(arg.lstrip("+~").startswith("hydra.searchpath") for arg in argv):
        return argv
    return [*argv, "hydra.searchpath=[" + ",".join(f"file://{f}" for f in folders) + "]"]


def hydra_command(config_name: str) -> Callable[[Callable[[DictConfig], Any]], Callable[[], Any]]:
    """``hydra.main`` over ``CONFIG_DIR/<config_name>.yaml`` that also searches the user's config folders."""

    def wrap(run: Callable[[DictConfig], Any]) -> Callable[[], Any]:
        app = hydra.main(version_base=VERSION_BASE, config_path=str(CONFIG_DIR), config_name=config_name)(run)

        def main() -> Any:
            sys.argv[1:] = with_user_configs(sys.argv[1:], user_config_dirs())
            return app()

        main.__doc__ = run.__doc__
        return main

    return wrap
