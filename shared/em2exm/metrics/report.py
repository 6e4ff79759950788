"""All scores of one segmentation, an accumulator over blocks, and a short Markdown table."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from em2exm.metrics.contingency import Contingency, Table
from em2exm.metrics.matching import THRESHOLDS, Matching, match_instances
from em2exm.metrics.rand import adapted_rand_skimage, adapted_rand_snemi
from em2exm.metrics.voi import voi


@dataclass(frozen=True)
class Scores:
    """Segmentation scores against ground truth (0 = background in both)."""

    n_gt: int
    n_seg: int
    are_skimage: float
    are_snemi: float
    voi_split: float
    voi_merge: float
    matching: tuple[Matching, ...]

    @property
    def mean_ap(self) -> float:
        """Mean of AP over the matching thresholds."""
        return float(np.mean([m.ap for m in self.matching])) if self.matching else 0.0

    def at(self, threshold: float) -> Matching:
        """The matching at ``threshold``."""
        return next(m for m in self.matching if abs(m.threshold - threshold) < 1e-9)


def score(table: Table, thresholds: tuple[float, ...] = THRESHOLDS) -> Scores:
    """Scores from a contingency table: ARE both ways (scikit-image ignoring gt 0, SNEMI), VOI over
    all voxels (scikit-image's default), instance matching at IoU ``thresholds`` (0.5..0.95)."""
    split, merge = voi(table)
    matching = tuple(match_instances(table, thresholds))
    return Scores(
        n_gt=int(np.count_nonzero(np.unique(table.gt))), n_seg=int(np.count_nonzero(np.unique(table.seg))),
        are_skimage=adapted_rand_skimage(table)[0], are_snemi=adapted_rand_snemi(table)[0],
        voi_split=split, voi_merge=merge, matching=matching,
    )


class ScoreAccumulator:
    """Scores a volume block by block: ``add(gt_block, seg_block)`` for each block, then ``result()``."""

    def __init__(self, thresholds: tuple[float, ...] = THRESHOLDS) -> None:
        self.contingency = Contingency()
        self.thresholds = thresholds

    def add(self, gt_block: np.ndarray, seg_block: np.ndarray) -> None:
        """Count one block of ground truth and segmentation (same shape)."""
        self.contingency.add(gt_block, seg_block)

    def result(self) -> Scores:
        """Scores of everything added."""
        return score(self.contingency.table(), self.thresholds)


def flat_dict(s: Scores) -> dict[str, float | int]:
    """The scores as one flat JSON-ready dict: ``ap@0.5``, ``f1@0.5``, ... per threshold, ``ap`` (their
    mean), ``voi`` (split + merge), ``voi_split``, ``voi_merge``, both adapted Rand errors and counts."""
    out: dict[str, float | int] = {}
    for m in s.matching:
        t = f"{m.threshold:g}"
        out.update({f"ap@{t}": m.ap, f"f1@{t}": m.f1, f"precision@{t}": m.precision, f"recall@{t}": m.recall,
                    f"mean_iou@{t}": m.mean_iou, f"tp@{t}": m.tp, f"fp@{t}": m.fp, f"fn@{t}": m.fn})
    out.update({
        "ap": s.mean_ap, "voi": s.voi_split + s.voi_merge, "voi_split": s.voi_split, "voi_merge": s.voi_merge,
        "adapted_rand_skimage": s.are_skimage, "adapted_rand_snemi": s.are_snemi,
        "n_groundtruth": s.n_gt, "n_segmentation": s.n_seg,
    })
    return out


def markdown_table(rows: dict[str, Scores]) -> str:
    """A short Markdown table, one row per named segmentation: F1 at the lowest threshold and at 0.75
    (the highest when 0.75 is not scored), mean AP and mean matched IoU at the lowest threshold."""
    first = next(iter(rows.values()), None)
    thresholds = [m.threshold for m in first.matching] if first else [0.5, 0.75]
    low = min(thresholds)
    high = 0.75 if any(abs(t - 0.75) < 1e-9 for t in thresholds) else max(thresholds)
    head = (f"| segmentation | #inst (GT) | ARE skimage | ARE SNEMI | VOI split | VOI merge "
            f"| F1@{low:g} | F1@{high:g} | mAP@{low:g}:{max(thresholds):g} | mean IoU@{low:g} |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for name, s in rows.items():
        lines.append(
            f"| {name} | {s.n_seg} ({s.n_gt}) | {s.are_skimage:.3f} | {s.are_snemi:.3f} | {s.voi_split:.3f} "
            f"| {s.voi_merge:.3f} | {s.at(low).f1:.3f} | {s.at(high).f1:.3f} | {s.mean_ap:.3f} "
            f"| {s.at(low).mean_iou:.3f} |"
        )
    return "\n".join(lines) + "\n"
