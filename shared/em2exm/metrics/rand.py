"""Adapted Rand error from a contingency table, in its two common definitions."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from em2exm.metrics.contingency import Table


def _sums(ids: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Total count per distinct id."""
    _, inverse = np.unique(ids, return_inverse=True)
    return np.bincount(inverse, weights=counts)


def adapted_rand_skimage(table: Table, ignore_gt: Sequence[int] = (0,)) -> tuple[float, float, float]:
    """(error, precision, recall) as ``skimage.metrics.adapted_rand_error(gt, seg)``: voxels with a
    ground-truth id in ``ignore_gt`` are dropped; segmentation 0 counts as one segment."""
    keep = ~np.isin(table.gt, ignore_gt)
    n = table.counts[keep].astype(np.float64)
    a = _sums(table.gt[keep], n)
    b = _sums(table.seg[keep], n)
    pairs = n @ n - n.sum()
    sum_a2 = a @ a - a.sum()
    sum_b2 = b @ b - b.sum()
    return float(1.0 - pairs / (0.5 * sum_a2 + 0.5 * sum_b2)), float(pairs / sum_a2), float(pairs / sum_b2)


def adapted_rand_snemi(table: Table) -> tuple[float, float, float]:
    """(error, precision, recall) of the SNEMI3D script as in PyTC's ``adapted_rand(seg, gt)``:
    ground-truth 0 is left out, segmentation 0 voxels count as singletons."""
    total = float(table.total)
    fg = table.gt != 0
    both = fg & (table.seg != 0)
    n = table.counts.astype(np.float64)
    a = _sums(table.gt[fg], n[fg])
    b = _sums(table.seg[both], n[both])
    unlabelled = n[fg & (table.seg == 0)].sum() / total
    sum_a = a @ a
    sum_b = b @ b + unlabelled
    sum_ab = n[both] @ n[both] + unlabelled
    precision, recall = sum_ab / sum_b, sum_ab / sum_a
    return float(1.0 - 2.0 * precision * recall / (precision + recall)), float(precision), float(recall)
