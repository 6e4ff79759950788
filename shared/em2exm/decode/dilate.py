"""Grey dilation (max filter) of a label volume with an odd box footprint, scattered from the
labelled voxels only; equal to ``skimage.morphology.dilation(labels, ones(size))``."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _scatter_max(labels: np.ndarray, out: np.ndarray, rz: int, ry: int, rx: int) -> None:
    nz, ny, nx = labels.shape
    for z in range(nz):
        for y in range(ny):
            for x in range(nx):
                v = labels[z, y, x]
                if v == 0:
                    continue
                for z2 in range(max(z - rz, 0), min(z + rz + 1, nz)):
                    for y2 in range(max(y - ry, 0), min(y + ry + 1, ny)):
                        for x2 in range(max(x - rx, 0), min(x + rx + 1, nx)):
                            if out[z2, y2, x2] < v:
                                out[z2, y2, x2] = v


@njit(cache=True, nogil=True)
def count_labels(labels: np.ndarray, n: int) -> np.ndarray:
    """Voxels per id 0..n of a 3-D label array."""
    counts = np.zeros(n + 1, np.int64)
    nz, ny, nx = labels.shape
    for z in range(nz):
        for y in range(ny):
            for x in range(nx):
                counts[labels[z, y, x]] += 1
    return counts


def dilate_box(labels: np.ndarray, size: tuple[int, int, int], out: np.ndarray) -> None:
    """Max filter of ``labels`` with ``ones(size)`` (odd sizes) into the zeroed ``out`` (same shape).
    Voxels outside the array count as background, which equals scikit-image's 'reflect' border
    for odd boxes."""
    _scatter_max(labels, out, size[0] // 2, size[1] // 2, size[2] // 2)
