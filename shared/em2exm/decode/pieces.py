"""Statistics of the pieces (connected components) a block labels over its outer box."""

from __future__ import annotations

import numpy as np
from numba import njit

from em2exm.tiling import Box

NONE = np.iinfo(np.int64).max


@njit(cache=True, nogil=True)
def _stats(labels: np.ndarray, lo: np.ndarray, hi: np.ndarray, origin: np.ndarray, shape: np.ndarray,
           n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    count = np.zeros(n + 1, np.int64)
    first = np.full(n + 1, NONE, np.int64)
    outside = np.zeros(n + 1, np.bool_)
    nz, ny, nx = labels.shape
    for z in range(nz):
        for y in range(ny):
            for x in range(nx):
                s = labels[z, y, x]
                if s == 0:
                    continue
                if lo[0] <= z < hi[0] and lo[1] <= y < hi[1] and lo[2] <= x < hi[2]:
                    count[s] += 1
                    if first[s] == NONE:
                        first[s] = ((origin[0] + z) * shape[1] + origin[1] + y) * shape[2] + origin[2] + x
                else:
                    outside[s] = True
    return count, first, outside


def piece_stats(labels: np.ndarray, n: int, core: Box, origin: tuple[int, ...],
                shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per id 0..n of ``labels`` (whose voxel 0 lies at global ``origin`` in a volume of ``shape``):
    its voxels inside ``core`` (a box of ``labels``), the global raster index of its first voxel there
    (``NONE`` if none) and whether it has voxels outside ``core``."""
    return _stats(labels, np.array([s.start for s in core]), np.array([s.stop for s in core]),
                  np.array(origin), np.array(shape), n)
