"""Process-wide CPU allocator tuning for inference (call once at start-up)."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4  # glibc mallopt parameters
_KEEP_BYTES = 1 << 30


def keep_freed_memory() -> bool:
    """Make glibc reuse freed heap memory instead of mmap/munmap for every large tensor.

    CPU inference allocates and frees tens of MB per layer; by default each allocation is a fresh mmap
    whose pages are faulted in and zeroed again, which costs up to a third of a U-Net forward pass on
    this hardware. Freed memory (up to 1 GiB) then stays with the process. Returns False off glibc.
    """
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        ok = bool(libc.mallopt(_M_MMAP_MAX, 0)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, _KEEP_BYTES))
    except (OSError, AttributeError):
        ok = False
    log.debug("keep_freed_memory: %s", ok)
    return ok
