"""Keep freed CPU memory in the process, so that big tensors do not page-fault at every step (glibc only).

glibc's ``malloc`` serves blocks above its mmap threshold with fresh pages from the kernel, unmaps them when
they are freed, and gives the top of its heap back above a trim threshold. A training step allocates and frees
tens of MB of activations, logits and gradients, so their pages are faulted in again at every step. On the
benchmark prior (``benchmarks/bench_prior.py``, 2-core Xeon, torch 2.13) that was 9,000-15,000 minor page
faults per step (37-60 MB) and 8-10% of the step time; with :func:`tune_cpu_allocator` it is none.

It raises the mmap threshold to 1 GiB and the trim threshold to 2 GiB, so freed blocks stay in the heap for the
next allocation, as PyTorch's CUDA caching allocator does on the GPU (and as jemalloc or tcmalloc, which
PyTorch's CPU tuning guide recommends, do by default). The cost: resident memory stays at its peak instead of
shrinking between steps. The ``genkit`` command calls it at start; Python users call it themselves.
``GENKIT_CPU_ALLOCATOR=default`` in the environment turns it off.
"""

from __future__ import annotations

import ctypes
import os
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc <malloc.h>
MMAP_THRESHOLD_BYTES = 1 << 30
TRIM_THRESHOLD_BYTES = (1 << 31) - 1  # the largest an int holds: 2 GiB - 1
_applied: bool | None = None


def tune_cpu_allocator() -> bool:
    """Set glibc's mmap and trim thresholds for this process (once; later calls return the first answer).

    Returns whether they were set: False off Linux, without glibc, or with ``GENKIT_CPU_ALLOCATOR=default``.
    """
    global _applied
    if _applied is None:
        _applied = _apply()
    return _applied


WORKER_THRESHOLD_BYTES = 128 * 1024  # glibc's default mmap threshold, fixed (not raised after each free)


def release_large_blocks() -> bool:
    """For DataLoader worker processes: serve blocks over 128 KiB from their own mappings and give them back when
    freed, with a fixed threshold (glibc otherwise raises it up to 32 MiB after each freed block, and a worker that
    assembles batches of tens of MB then grows its heap through fragmentation, batch after batch). Returns whether
    it was set."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    applied: bool = (  # ctypes types a foreign function's result as Any
        mallopt(M_MMAP_THRESHOLD, WORKER_THRESHOLD_BYTES) == 1
        and mallopt(M_TRIM_THRESHOLD, WORKER_THRESHOLD_BYTES) == 1
    )
    return applied


def _apply() -> bool:
    if os.environ.get("GENKIT_CPU_ALLOCATOR", "").strip().lower() == "default" or not sys.platform.startswith("linux"):
        return False
    try:  # the symbols this process already has loaded: no library search (a subprocess) at start-up
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # musl and other C libraries have no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # mallopt returns 1 on success. Both: setting either one stops glibc's own adjustment of the other.
    applied: bool = (  # ctypes types a foreign function's result as Any
        mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1 and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1
    )
    return applied
