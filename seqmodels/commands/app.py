"""What every console script shares: where the configs are, the user's own config folders, ``hydra.main``.

The configs live in ``configs/`` at the repository root; a built wheel carries them inside the
package as ``seqmodels/configs`` (``pyproject.toml`` maps the folder there), so an installed
command finds them from any directory. :data:`CONFIG_DIR` is whichever of the two exists.

A user's own config folder (a new cell, data set or experiment) is searched too, without
``hydra.searchpath=[…]`` on every command: each folder of ``$SEQMODELS_CONFIG_PATH`` (separated by
``os.pathsep``) and a ``configs/`` folder in the working directory, in that order, unless the command
line sets ``hydra.searchpath`` itself.

A user's mistake — a bad config value, an unknown option, a missing or undecodable file, a bad
checkpoint — is printed as one block, ``error: <message>`` and a hint, with no Python traceback, and
the command exits with status 2; ``HYDRA_FULL_ERROR=1`` shows the whole trace instead. Anything else is
a bug and keeps its traceback (status 1).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NoReturn

import hydra
from hydra.errors import CompactHydraException, HydraException, MissingConfigException
from omegaconf import DictConfig
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

VERSION_BASE = "1.3"
CONFIG_PATH_ENV = "SEQMODELS_CONFIG_PATH"
FULL_ERROR_ENV = "HYDRA_FULL_ERROR"
_USER_FULL_ERROR_ENV = "_SEQMODELS_USER_HYDRA_FULL_ERROR"  # HYDRA_FULL_ERROR as the user set it
USER_ERROR_STATUS = 2


class ConfigTypeError(TypeError):
    """A constructor's ``TypeError`` about a config value (a wrong type, an unknown key), with the key named:
    a user's mistake, not a bug, so the console scripts report it in one line."""


# what a user's mistake raises: our named checks (ValueError, FileNotFoundError), a decoding error, a config
# value of the wrong type, and Hydra's and OmegaConf's own errors about the command line and the configs
USER_ERRORS = (ValueError, OSError, ConfigTypeError, CompactHydraException, OmegaConfBaseException)


def _config_dir() -> Path:
    package = Path(__file__).resolve().parents[1]
    installed = package / "configs"  # inside a wheel: seqmodels/configs
    return installed if installed.is_dir() else package.parent / "configs"  # a checkout: <repo>/configs


CONFIG_DIR = _config_dir()


def user_config_dirs(cwd: Path | None = None, environ: Mapping[str, str] | None = None) -> list[Path]:
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


def hint(error: BaseException) -> str:
    """One line telling the user what to do next, in the command line's own terms."""
    if "Config group override must be a string" in str(error):  # group=null
        return "a config group is switched off with its option none: logger=none, callbacks=none"
    if isinstance(error, UnicodeDecodeError):
        return "the file is not UTF-8: name its encoding, e.g. data.encoding=latin-1"
    if isinstance(error, MissingConfigException):
        return "--help lists every config group and its options; --cfg job prints the composed config"
    if isinstance(error, MissingMandatoryValue):
        key = getattr(error, "full_key", None)
        if key and key != "ckpt_path":  # e.g. data.train of the experiments that read the user's files
            return f"give it on the command line: {key}=<value>; --cfg job prints the composed config"
        return "give it on the command line, e.g. ckpt_path=logs/<name>/<time>/checkpoints/last.ckpt"
    if isinstance(error, (HydraException, OmegaConfBaseException)):
        return "overrides are key=value, group=option, +key=value (add) or ~key (remove); --cfg job shows the config"
    if isinstance(error, FileNotFoundError):
        return "relative paths start at the working directory; data sets are read under paths.data_dir ($SEQMODELS_DATA_DIR)"
    return "fix the value named above on the command line (key=value); --cfg job prints the composed config"


def report(error: BaseException) -> str:
    """The block printed for a user's mistake."""
    message = str(error).strip() or type(error).__name__
    message = message.split("\nConfig search path:")[0].rstrip()  # Hydra's own folders: not the user's business
    if isinstance(error, UnicodeDecodeError) and not message.startswith(str(getattr(error, "filename", ""))):
        message = f"cannot decode the file as {error.encoding}: {message}"
    return f"error: {message}\nhint: {hint(error)} (HYDRA_FULL_ERROR=1 shows the full trace)"


def exit_with_report(error: BaseException) -> NoReturn:
    print(report(error), file=sys.stderr, flush=True)
    raise SystemExit(USER_ERROR_STATUS) from None


def full_trace_wanted() -> bool:
    """Whether the user asked for whole tracebacks (``HYDRA_FULL_ERROR=1`` before the command started)."""
    return os.environ.get(_USER_FULL_ERROR_ENV, os.environ.get(FULL_ERROR_ENV)) == "1"


def run_reporting_user_errors(app: Callable[[], Any]) -> Any:
    """Run a Hydra app; a user's mistake in the command line or the configs becomes :func:`report` on stderr
    and exit status 2 (mistakes found while the job runs are reported by :func:`hydra_command`'s job)."""
    os.environ.setdefault(_USER_FULL_ERROR_ENV, os.environ.get(FULL_ERROR_ENV, ""))
    os.environ[FULL_ERROR_ENV] = "1"  # Hydra re-raises its own errors instead of printing a trace
    try:
        return app()
    except USER_ERRORS as error:
        if full_trace_wanted():
            raise
        exit_with_report(error)
    finally:
        os.environ[FULL_ERROR_ENV] = os.environ.pop(_USER_FULL_ERROR_ENV)
        if not os.environ[FULL_ERROR_ENV]:
            del os.environ[FULL_ERROR_ENV]


def hydra_command(config_name: str) -> Callable[[Callable[[DictConfig], Any]], Callable[[], Any]]:
    """``hydra.main`` over ``CONFIG_DIR/<config_name>.yaml`` that also searches the user's config folders."""

    def wrap(run: Callable[[DictConfig], Any]) -> Callable[[], Any]:
        def job(cfg: DictConfig) -> Any:
            try:
                return run(cfg)
            except USER_ERRORS as error:  # reported here, before Hydra adds its own "Error executing job" line
                if full_trace_wanted():
                    raise
                exit_with_report(error)

        app = hydra.main(version_base=VERSION_BASE, config_path=str(CONFIG_DIR), config_name=config_name)(job)

        def main() -> Any:
            def run_app() -> Any:
                sys.argv[1:] = with_user_configs(sys.argv[1:], user_config_dirs())
                return app()

            return run_reporting_user_errors(run_app)

        main.__doc__ = run.__doc__
        return main

    return wrap
