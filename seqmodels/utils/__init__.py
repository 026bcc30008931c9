"""The bottom layer: argument checks, recurrent-state helpers and atomic file writes.

Every other package may import from here; nothing here imports from the rest of seqmodels.
"""

from .checks import check_input, check_lengths, check_positive_int, check_probability, step_mask
from .io import atomic_open, atomic_write_bytes, atomic_write_json, file_digest, json_digest, read_json
from .state import detach_state, map_state

__all__ = [
    "atomic_open",
    "atomic_write_bytes",
    "atomic_write_json",
    "check_input",
    "check_lengths",
    "check_positive_int",
    "check_probability",
    "detach_state",
    "file_digest",
    "json_digest",
    "map_state",
    "read_json",
    "step_mask",
]
