"""Nearest-neighbour resize of a label volume, voxel for voxel as PyTC's ``scale_factors`` step
(``skimage.transform.resize(order=0, anti_aliasing=False, preserve_range=True)``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage as ndi


def _source_index(n_in: int, n_out: int) -> np.ndarray:
    """Input index each output index reads: scipy's order-0 grid-mode zoom of ``arange(n_in)``,
    with the zoom factor written the way scikit-image computes it."""
    zoom = 1 / (n_in / n_out)
    return ndi.zoom(np.arange(n_in, dtype=np.float64), zoom, order=0, mode="nearest", grid_mode=True).astype(np.intp)


def resize_labels(labels: np.ndarray, scale_factors: Sequence[float]) -> np.ndarray:
    """Resize to ``int(size * factor)`` per axis with nearest neighbour; unchanged if all are 1."""
    if all(f == 1.0 for f in scale_factors):
        return labels
    out = labels
    for axis, factor in enumerate(scale_factors):
        n_in = labels.shape[axis]
        out = np.take(out, _source_index(n_in, int(n_in * factor)), axis=axis)
    return out
