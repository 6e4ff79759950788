"""Seeds: 26-connected components of the seed map."""

from __future__ import annotations

import cc3d
import numpy as np


def label_seeds(seed_map: np.ndarray) -> tuple[np.ndarray, int]:
    """Label ``seed_map`` 26-connected: cc3d's ids 1..n follow the raster order of each component's
    first voxel, as scikit-image's ``label``. Returns the labels and n."""
    labels, n = cc3d.connected_components(seed_map, connectivity=26, return_N=True)
    return labels, int(n)
