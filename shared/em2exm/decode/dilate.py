"""Grey dilation (max filter) of a label volume with an odd box footprint, scattered from the
runs of labelled voxels only; equal to ``skimage.morphology.dilation(labels, ones(size))``."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def run_end(row: np.ndarray, x: int) -> int:
    """End (exclusive) of the run of ``row[x]``'s value that starts at ``x``."""
    end = x + 1
    while end < row.shape[0] and row[end] == row[x]:
        end += 1
    return end


@njit(cache=True, nogil=True)
def _scatter_max(labels: np.ndarray, out: np.ndarray, rz: int, ry: int, rx: int) -> None:
    """Each run of one label along x is scattered once: its footprints' union is one box."""
    nz, ny, nx = labels.shape
    for z in range(nz):
        for y in range(ny):
            x = 0
            while x < nx:
                v = labels[z, y, x]
                end = run_end(labels[z, y], x)
                if v != 0:
                    for z2 in range(max(z - rz, 0), min(z + rz + 1, nz)):
                        for y2 in range(max(y - ry, 0), min(y + ry + 1, ny)):
                            for x2 in range(max(x - rx, 0), min(end + rx, nx)):
                                if out[z2, y2, x2] < v:
                                    out[z2, y2, x2] = v
                x = end


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
