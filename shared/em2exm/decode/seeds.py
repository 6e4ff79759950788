"""Seeds: 26-connected components of the seed map and which of them are large enough to keep."""

from __future__ import annotations

import cc3d
import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _sizes(labels: np.ndarray, n: int) -> np.ndarray:
    sizes = np.zeros(n + 1, np.int64)
    for i in range(labels.size):
        sizes[labels[i]] += 1
    return sizes


def label_seeds(seed_map: np.ndarray, seed_thres: int) -> tuple[np.ndarray, np.ndarray]:
    """Label ``seed_map`` 26-connected (cc3d's ids follow raster order of each component's first
    voxel, as scikit-image's ``label``) and return the labels and ``keep[id]``: whether the
    component has at least ``seed_thres`` voxels (counted before any masking, as PyTC does)."""
    labels, n = cc3d.connected_components(seed_map, connectivity=26, return_N=True)
    keep = _sizes(labels.reshape(-1), n) >= seed_thres
    keep[0] = False
    return labels, keep
