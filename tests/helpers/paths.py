"""Where the repository and the shared real data sets are."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR_ENV = "SEQMODELS_DATA_DIR"


def resolve_data_dir() -> Path:
    """``$SEQMODELS_DATA_DIR`` when set, else ``<repo>/../shared/data``."""
    env = os.environ.get(DATA_DIR_ENV)
    return Path(env).expanduser() if env else REPO_ROOT.parent / "shared" / "data"
