"""Variation of information (split and merge conditional entropies, bits) from a contingency table."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from em2exm.metrics.contingency import Table


def voi(table: Table, ignore_gt: Sequence[int] = ()) -> tuple[float, float]:
    """(split, merge) = (H(seg|gt), H(gt|seg)) in bits, as ``skimage.metrics.variation_of_information
    (gt, seg, ignore_labels=ignore_gt)``; voxels with a ground-truth id in ``ignore_gt`` are dropped."""
    keep = ~np.isin(table.gt, ignore_gt)
    n = table.counts[keep].astype(np.float64)
    if n.sum() == 0:
        return 0.0, 0.0
    p = n / n.sum()
    _, gi = np.unique(table.gt[keep], return_inverse=True)
    _, si = np.unique(table.seg[keep], return_inverse=True)
    p_gt = np.bincount(gi, weights=p)[gi]
    p_seg = np.bincount(si, weights=p)[si]
    split = -np.sum(p * np.log2(p / p_gt))
    merge = -np.sum(p * np.log2(p / p_seg))
    return max(0.0, float(split)), max(0.0, float(merge))
