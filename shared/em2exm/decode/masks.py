"""Apply threshold tables to a (C, Z, Y, X) uint8 crop, writing into (padded) output volumes."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, inline="always")
def _holds(maps: np.ndarray, table: np.ndarray, z: int, y: int, x: int) -> bool:
    for c in range(table.shape[0]):
        if not table[c, maps[c, z, y, x]]:
            return False
    return True


@njit(cache=True, nogil=True)
def rule_mask(maps: np.ndarray, table: np.ndarray, out: np.ndarray) -> None:
    """``out[z, y, x] = True`` where every channel passes ``table`` (shape (C, 256))."""
    _, nz, ny, nx = maps.shape
    for z in range(nz):
        for y in range(ny):
            for x in range(nx):
                if _holds(maps, table, z, y, x):
                    out[z, y, x] = True


@njit(cache=True, nogil=True)
def classify(maps: np.ndarray, fg: np.ndarray, seed: np.ndarray, level: np.ndarray, seeds: np.ndarray) -> int:
    """Into volumes padded by one voxel: ``level`` = channel 0 where the ``fg`` table passes (never
    0 there), ``seeds`` = True where the ``seed`` table passes. Returns the foreground count."""
    either = fg[0] | seed[0]
    count = 0
    _, nz, ny, nx = maps.shape
    for z in range(nz):
        for y in range(ny):
            for x in range(nx):
                if not either[maps[0, z, y, x]]:
                    continue
                if _holds(maps, fg, z, y, x):
                    level[z + 1, y + 1, x + 1] = maps[0, z, y, x]
                    count += 1
                if _holds(maps, seed, z, y, x):
                    seeds[z + 1, y + 1, x + 1] = True
    return count
