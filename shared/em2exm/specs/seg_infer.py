"""seg-infer: blockwise sliding-window inference of a trained U-Net -> uint8 maps (C, Z, Y, X) OME-Zarr."""

from __future__ import annotations

from pydantic import Field

from em2exm.seg.config import InferOptions
from em2exm.specs.base import Resources, StageSpec


class SegInferParams(InferOptions):
    """Inference options (the ``infer`` section) plus inputs and output."""

    checkpoint: str = Field(description="finished seg-train output folder URL (or a checkpoint .pt file URL)")
    image: str = Field(description="OME-Zarr image URL (z, y, x) to segment")
    output: str = Field(description="predictions OME-Zarr URL: uint8 maps (c, z, y, x), trunc(255 * probability)")


SPEC = StageSpec(
    name="seg-infer",
    summary=__doc__.split(": ", 1)[1].splitlines()[0],
    details="sliding window with Gaussian blending and flip TTA, blockwise with halo (memory ~ block size)",
    params=SegInferParams,
    section="infer",
    inputs=("checkpoint", "image"),
    outputs=("output",),
    blockwise=True,
    resources=Resources(cpu=4, memory_gib=16, gpu=1),
)
