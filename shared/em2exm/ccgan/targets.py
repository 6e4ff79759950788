"""Segmentation targets of an EM label patch: b (foreground, default), c (instance contour), d (instance distance).

c and d are PyTorch Connectomics' definitions from ``em2exm.seg.targets`` (contour dilated by ``contour_k``;
distance normalised per instance to (0, 1], -1 outside, in voxel units, per slice for 2D training).
"""

from __future__ import annotations

import numpy as np


def seg_targets(labels: np.ndarray, seg_target: str, dims: int, contour_k: int = 1) -> np.ndarray:
    """float32 maps (C, *labels.shape) for instance labels (Z, Y, X), channels in ``seg_target`` order."""
    labels = np.asarray(labels)
    maps = []
    for kind in seg_target:
        if kind == "b":
            maps.append((labels > 0).astype(np.float32))
        elif kind == "c":
            from em2exm.seg.targets import instance_contour

            maps.append(instance_contour(labels, contour_k))
        elif kind == "d":
            from em2exm.seg.targets import instance_distance

            maps.append(instance_distance(labels, mode="2d" if dims == 2 else "3d"))
        else:
            raise ValueError(f"unknown segmentation target {kind!r}")
    return np.stack(maps).astype(np.float32, copy=False)
