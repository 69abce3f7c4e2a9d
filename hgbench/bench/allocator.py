"""Freed memory kept in the process for batched steps on the CPU.

glibc's ``malloc`` serves every allocation above its mmap threshold (which it raises as large
blocks are freed, to at most 32 MiB on 64-bit) with a fresh ``mmap`` and returns it to the
kernel on ``free``. A batched step of 200 inits on the large UCI sets allocates tensors of
hundreds of MB several times per step, so each step page-faults and zero-fills them anew: on
naval at N = 200 that was most of the step (docs/roofline.md). :func:`retain_freed_memory`
raises the threshold and the trim threshold to 2 GiB, so freed blocks are reused. The worker
calls it for a batched CPU work item after its memory baseline is read (so the run-owned
memory stays the run's); a worker runs one work item and exits, so the retained memory goes
with it. :func:`kept` says whether this process did.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

#: glibc's mallopt parameters
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
LIMIT = 2**31 - 1  # mallopt takes an int

_applied: bool | None = None


def retain_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds once per process (Linux with glibc only; off
    when ``HGBENCH_KEEP_FREED=0``). Whether they are raised."""
    global _applied
    if _applied is not None:
        return _applied
    _applied = False
    if os.environ.get("HGBENCH_KEEP_FREED", "1").strip() == "0" or not sys.platform.startswith(
        "linux"
    ):
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    _applied = bool(mallopt(M_MMAP_THRESHOLD, LIMIT)) and bool(mallopt(M_TRIM_THRESHOLD, LIMIT))
    return _applied


def kept() -> bool:
    """Whether :func:`retain_freed_memory` raised the thresholds in this process."""
    return bool(_applied)
