"""The ``evaluate`` options section: IoU thresholds, accumulation block, evaluation region, judging."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from em2exm.config import StrictModel
from em2exm.metrics.matching import THRESHOLDS
from em2exm.tiling.grid import Box, triple


class EvaluateOptions(StrictModel):
    """How a segmentation is scored. The region is ``[region_start * n, n)`` along ``region_axis``
    (fractions, so a pipeline can score a held-out part without knowing shapes); ``judge=False``
    only reports the scores (it is recorded in metrics.json for whoever judges them)."""

    thresholds: tuple[float, ...] = Field(THRESHOLDS, description="IoU thresholds in (0, 1] at which instances are "
                                                                  "matched; AP = TP / (TP + FP + FN) at each, mAP "
                                                                  "their mean")
    block: tuple[int, int, int] = Field((128, 512, 512), description="block (z, y, x) in voxels whose overlap counts one "
                                                                     "task computes (bounds memory; the fan-out unit)")
    region_axis: Literal["z", "y", "x"] = Field("x", description="axis along which the scored region is cut")
    region_start: float = Field(0.0, ge=0.0, lt=1.0, description="score only from this fraction of region_axis to "
                                                                 "its end (e.g. 0.5: a held-out second half)")
    judge: bool = Field(True, description="false: only report the scores (recorded in metrics.json), e.g. where the "
                                          "ground truth labels something else than the segmenter was trained on")
    ignore_gt_smaller_than: int = Field(
        0, ge=0, description="ground-truth instances with fewer voxels than this in the region are ignored: their "
                             "voxels count for no score (as an ignore label). Set it to decode.thres_small to score "
                             "only what the decoder may output; 0 = score every instance")

    @field_validator("thresholds")
    @classmethod
    def _thresholds(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if not value or any(not 0.0 < t <= 1.0 for t in value):
            raise ValueError("need one or more IoU thresholds in (0, 1]")
        return tuple(sorted(set(value)))

    @field_validator("block")
    @classmethod
    def _block(cls, value: tuple[int, int, int]) -> tuple[int, int, int]:
        if min(value) < 1:
            raise ValueError("block sizes must be >= 1")
        return value

    def region(self, shape: tuple[int, int, int]) -> Box:
        """The voxel box scored in a volume of ``shape``."""
        axis = "zyx".index(self.region_axis)
        box = [slice(0, n) for n in shape]
        box[axis] = slice(int(self.region_start * shape[axis]), shape[axis])
        return triple(box)
