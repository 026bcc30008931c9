"""Where the on-disk cache lives: ``$SEQMODELS_CACHE_DIR``, else ``~/.cache/seqmodels``.

Everything written there goes through :mod:`seqmodels.utils.io` (atomic writes, content hashes).
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "SEQMODELS_CACHE_DIR"


def default_cache_dir() -> Path:
    """``$SEQMODELS_CACHE_DIR`` when set, else ``~/.cache/seqmodels``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "seqmodels"


def resolve_cache_dir(cache_dir: str | os.PathLike[str] | None) -> Path:
    """``cache_dir`` as a Path, or :func:`default_cache_dir` when ``None``."""
    return Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
