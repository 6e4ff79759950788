"""ccgan-train: train the CycleGAN with segmentation heads that translates EM (domain A) into ExM (domain B)."""

from __future__ import annotations

from pydantic import Field

from em2exm.ccgan.config import CCGANConfig
from em2exm.specs.base import Resources, StageSpec


class CCGANTrainParams(CCGANConfig):
    """The ``ccgan`` options plus this run's inputs and output."""

    a: str = Field(description="domain A (EM) OME-Zarr image URL, e.g. run/em.zarr")
    a_labels: str | None = Field(None, description="instance labels of the A image, e.g. "
                                                   "run/em.zarr/labels/groundtruth (needed by seg_head and "
                                                   "min_foreground)")
    b: str = Field(description="domain B (ExM) OME-Zarr image URL, e.g. run/exm.zarr")
    output: str = Field(description="output folder URL (checkpoint, losses, samples)")


SPEC = StageSpec(
    name="ccgan-train",
    summary=__doc__.split(": ", 1)[1].splitlines()[0],
    details=(
        "2D/3D CycleGAN EM (A) → ExM (B); a segmentation head on the generators trained with seg_match "
        "(BCE on G_A(A) and G_B(G_A(A))); optional contour/distance heads, seg discriminator, CySGAN "
        "consistency; resumable"
    ),
    params=CCGANTrainParams,
    section="ccgan",
    inputs=("a", "a_labels", "b"),
    outputs=("output",),
    resources=Resources(cpu=4, memory_gib=16, gpu=1),
)
