"""Keep freed CPU memory in the process for reuse (glibc), so that training steps stop page-faulting.

glibc's ``malloc`` hands large freed blocks back to the operating system: a block above its mmap threshold
(128 KiB, raised as such blocks are freed, up to 32 MiB) is unmapped when freed, and the top of the heap is
trimmed once more than 128 KiB of it is free. A training step allocates and frees the same large buffers
every time (the PTB word model's (700, 10,000) logits and their gradient: 28 MB each), so the next step maps
the pages again and the kernel zero-fills each 4 KiB page at its first touch. Measured on the PTB word
model's step (2 cores): 0-14,000 page faults a step depending on the heap's history, up to 25 ms of system
time in an 80 ms step; any buffer over 32 MiB faults on every step. With both thresholds raised, a freed
block stays in the heap and the next step reuses it: no faults (``docs/PERFORMANCE.md``).

:func:`keep_freed_memory` raises them (``mallopt``: ``M_MMAP_THRESHOLD`` to 256 MiB, ``M_TRIM_THRESHOLD`` to
512 MiB). The cost: the process keeps up to its peak of freed memory instead of returning it. glibc offers
no way back to its adaptive thresholds, so the setting holds until the process ends. Elsewhere (macOS,
Windows, musl) there is nothing to do and it returns False.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from functools import lru_cache

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 256 * 2**20  # blocks below this come from the heap and are reused when freed
TRIM_THRESHOLD = 512 * 2**20  # free memory at the heap's top kept before it is returned


@lru_cache(maxsize=1)
def _glibc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018 - only glibc has it
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        return libc
    except (OSError, AttributeError):
        return None


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds for the rest of the process; True when they were set."""
    libc = _glibc()
    if libc is None:
        return False
    if libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) != 1 or libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) != 1:
        log.warning("keep_freed_memory: glibc refused mallopt; freed memory goes back to the system as before")
        return False
    return True
