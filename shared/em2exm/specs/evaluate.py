"""evaluate: score an instance segmentation against ground truth (ARE, VOI, F1/AP at IoU 0.5..0.95)."""

from __future__ import annotations

from pydantic import Field

from em2exm.metrics.options import EvaluateOptions
from em2exm.specs.base import Resources, StageSpec


class EvaluateParams(EvaluateOptions):
    """The evaluate options plus the two label images and the output folder."""

    segmentation: str = Field(description="label image URL of the segmentation, e.g. <predictions>/labels/instances")
    groundtruth: str = Field(description="label image URL of the ground truth on the same grid, e.g. "
                                         "<exm.zarr>/labels/groundtruth")
    output: str = Field(description="folder URL for metrics.json and metrics.md")


SPEC = StageSpec(
    name="evaluate",
    summary=__doc__.split(": ", 1)[1].splitlines()[0],
    details=(
        "adapted Rand (scikit-image and SNEMI definitions), VOI split/merge, AP/F1/precision/recall at "
        "IoU 0.5–0.95, blockwise"
    ),
    params=EvaluateParams,
    section="evaluate",
    inputs=("segmentation", "groundtruth"),
    outputs=("output",),
    blockwise=True,
    resources=Resources(cpu=2, memory_gib=8),
)
