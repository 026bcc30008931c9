"""Helpers shared by the tests (``from tests.helpers import ...``); fixtures live in ``tests/conftest.py``.

* :mod:`.paths` — the repository root and the shared data folder;
* :mod:`.oracles` — torch weights copied into our cells, and tensor differences, written independently of seqmodels;
* :mod:`.configs` — composing the configs as the console scripts do, finding the console scripts;
* :mod:`.faults` — callbacks that stall or kill a run at a given step (named by ``_target_`` in CLI runs);
* :mod:`.ranks` — a callback that records each training process (rank, world size, batches) to a file.
"""

from .oracles import copy_torch_rnn_weights, max_abs_diff
from .paths import DATA_DIR_ENV, REPO_ROOT, resolve_data_dir

__all__ = ["DATA_DIR_ENV", "REPO_ROOT", "copy_torch_rnn_weights", "max_abs_diff", "resolve_data_dir"]
