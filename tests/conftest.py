"""Shared fixtures (helpers are in ``tests/helpers``).

data_dir: the shared real-data folder (env ``SEQMODELS_DATA_DIR``, else ``<repo>/../shared/data``);
    tests using it are skipped, with the reason, when the folder is absent.
seed: seeds torch's global generator with 0 for a deterministic test.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.helpers.paths import DATA_DIR_ENV, resolve_data_dir


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The folder with the shared real datasets; skips the test when it does not exist."""
    path = resolve_data_dir()
    if not path.is_dir():
        pytest.skip(
            f"shared data folder {path} not found: set {DATA_DIR_ENV} to the folder holding "
            "tinyshakespeare/, ptb/, ... or place it at <repo>/../shared/data"
        )
    return path


@pytest.fixture
def seed() -> int:
    """Seed torch's global generator with 0 and return the seed."""
    torch.manual_seed(0)
    return 0
