"""keep_freed_memory (seqmodels/utils/allocator.py): after it, a step's large buffers are reused instead of
being mapped and page-faulted in again. The oracle is the kernel's own count of minor page faults, measured
in a fresh interpreter (the setting is process-wide and cannot be undone)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from seqmodels.utils import allocator

pytestmark = pytest.mark.skipif(allocator._glibc() is None, reason="glibc only (mallopt)")

# 48 MiB buffers: above glibc's largest adaptive mmap threshold (32 MiB), so by default every one is
# mapped afresh and each of its 4 KiB pages faults at first touch
STEPS = """
import resource, sys, torch
from seqmodels.utils.allocator import keep_freed_memory
if sys.argv[1] == "kept":
    assert keep_freed_memory()
n = 48 * 2**20 // 4
def step():
    a = torch.empty(n); a.fill_(1.0); b = torch.empty(n); b.fill_(2.0); del a, b
for _ in range(3):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    step()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 10)
"""


def faults_per_step(mode: str) -> float:
    done = subprocess.run([sys.executable, "-c", STEPS, mode], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return float(done.stdout.strip())


def test_freed_buffers_are_reused_without_page_faults():
    pages_per_step = 2 * 48 * 2**20 // 4096
    assert faults_per_step("default") > 0.5 * pages_per_step  # glibc returns them: every page faults again
    assert faults_per_step("kept") < 0.01 * pages_per_step
