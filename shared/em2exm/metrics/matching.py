"""Instance matching by IoU at thresholds 0.5..0.95, from a contingency table.

Instances are the non-zero ids. Pairs are matched one-to-one greedily in decreasing IoU (ties:
smaller ground-truth id, then smaller segmentation id); a matched pair with IoU >= t is a true
positive at threshold t. For t > 0.5 this is every pair with IoU >= t (such pairs cannot share an
instance). AP at t follows StarDist / the 2018 Data Science Bowl (there are no detection scores to
rank, so not COCO's): ``AP_t = TP / (TP + FP + FN)``; mAP is its mean over the thresholds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from em2exm.metrics.contingency import Table

THRESHOLDS = tuple(round(0.5 + 0.05 * k, 2) for k in range(10))


@dataclass(frozen=True)
class Matching:
    """Counts and scores at one IoU threshold."""

    threshold: float
    tp: int
    fp: int
    fn: int
    precision: float
    recall: float
    f1: float
    mean_iou: float
    ap: float


def _ratio(a: float, b: float) -> float:
    return a / b if b else 0.0


def _sizes(ids: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    unique, inverse = np.unique(ids, return_inverse=True)
    return unique, np.bincount(inverse, weights=counts)


def matched_ious(table: Table, floor: float = 0.5) -> tuple[int, int, np.ndarray]:
    """(number of ground-truth instances, number of segmented instances, IoUs of the greedy
    one-to-one matches with IoU >= ``floor``)."""
    gt_ids, gt_size = _sizes(table.gt, table.counts)
    seg_ids, seg_size = _sizes(table.seg, table.counts)
    n_gt = int(np.count_nonzero(gt_ids))
    n_seg = int(np.count_nonzero(seg_ids))
    both = (table.gt != 0) & (table.seg != 0)
    inter = table.counts[both].astype(np.float64)
    g, s = table.gt[both], table.seg[both]
    union = gt_size[np.searchsorted(gt_ids, g)] + seg_size[np.searchsorted(seg_ids, s)] - inter
    iou = inter / union
    keep = iou >= floor
    iou, g, s = iou[keep], g[keep], s[keep]
    used_gt: set[int] = set()
    used_seg: set[int] = set()
    matched = []
    for k in np.lexsort((s, g, -iou)):
        if g[k] not in used_gt and s[k] not in used_seg:
            used_gt.add(int(g[k]))
            used_seg.add(int(s[k]))
            matched.append(iou[k])
    return n_gt, n_seg, np.array(matched, np.float64)


def match_instances(table: Table, thresholds: tuple[float, ...] = THRESHOLDS) -> list[Matching]:
    """One :class:`Matching` per threshold."""
    n_gt, n_seg, ious = matched_ious(table, min(thresholds))
    out = []
    for t in thresholds:
        hit = ious[ious >= t]
        tp = int(hit.size)
        fp, fn = n_seg - tp, n_gt - tp
        out.append(Matching(
            threshold=t, tp=tp, fp=fp, fn=fn,
            precision=_ratio(tp, n_seg), recall=_ratio(tp, n_gt), f1=_ratio(2 * tp, n_gt + n_seg),
            mean_iou=float(hit.mean()) if tp else 0.0, ap=_ratio(tp, tp + fp + fn),
        ))
    return out
