"""All scores of one segmentation, an accumulator over blocks, and a short Markdown table."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from em2exm.metrics.contingency import Contingency, Table
from em2exm.metrics.matching import Matching, match_instances
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


def score(table: Table) -> Scores:
    """Scores from a contingency table: ARE both ways (scikit-image ignoring gt 0, SNEMI), VOI over
    all voxels (scikit-image's default), instance matching at IoU 0.5..0.95."""
    split, merge = voi(table)
    matching = tuple(match_instances(table))
    return Scores(
        n_gt=int(np.count_nonzero(np.unique(table.gt))), n_seg=int(np.count_nonzero(np.unique(table.seg))),
        are_skimage=adapted_rand_skimage(table)[0], are_snemi=adapted_rand_snemi(table)[0],
        voi_split=split, voi_merge=merge, matching=matching,
    )


class ScoreAccumulator:
    """Scores a volume block by block: ``add(gt_block, seg_block)`` for each block, then ``result()``."""

    def __init__(self) -> None:
        self.contingency = Contingency()

    def add(self, gt_block: np.ndarray, seg_block: np.ndarray) -> None:
        """Count one block of ground truth and segmentation (same shape)."""
        self.contingency.add(gt_block, seg_block)

    def result(self) -> Scores:
        """Scores of everything added."""
        return score(self.contingency.table())


def markdown_table(rows: dict[str, Scores]) -> str:
    """A short Markdown table, one row per named segmentation."""
    head = ("| segmentation | #inst (GT) | ARE skimage | ARE SNEMI | VOI split | VOI merge "
            "| F1@0.5 | F1@0.75 | mAP@0.5:0.95 | mean IoU@0.5 |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for name, s in rows.items():
        lines.append(
            f"| {name} | {s.n_seg} ({s.n_gt}) | {s.are_skimage:.3f} | {s.are_snemi:.3f} | {s.voi_split:.3f} "
            f"| {s.voi_merge:.3f} | {s.at(0.5).f1:.3f} | {s.at(0.75).f1:.3f} | {s.mean_ap:.3f} "
            f"| {s.at(0.5).mean_iou:.3f} |"
        )
    return "\n".join(lines) + "\n"
