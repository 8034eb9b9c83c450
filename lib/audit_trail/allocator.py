"""Keeps a long backfill from fragmenting the C heap (glibc only; elsewhere nothing happens).

Each page of a backfill is decoded from a multi-megabyte response. glibc serves the first such block with
mmap and returns it on free, but then raises its mmap threshold to that size, so every later page lands in
the heap, where the freed pages leave holes that keep the process's peak memory growing with the size of the
backfill. Fixing the threshold keeps large blocks in mmap: memory then follows the page, not the backfill.
"""

from __future__ import annotations

import sys

_M_MMAP_THRESHOLD = -3
_THRESHOLD_BYTES = 64 * 1024


def limit_heap_fragmentation() -> bool:
    """Pins glibc's mmap threshold; returns whether it applied. Safe to call more than once."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        mallopt = getattr(libc, "mallopt", None)
        return bool(mallopt and mallopt(_M_MMAP_THRESHOLD, _THRESHOLD_BYTES) == 1)
    except (OSError, AttributeError):
        return False
