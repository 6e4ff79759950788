"""seg-train: train the 3D U-Net on B/C(/D) targets from a build-dataset output; resumable."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from em2exm.seg.config import SegTrainConfig
from em2exm.specs.base import Resources, StageSpec


class SegTrainParams(SegTrainConfig):
    """Training options (the ``seg`` section) plus where the data comes from and goes to."""

    dataset: str = Field(description="build-dataset output folder URL (zarr format: train.zarr, val.zarr)")
    output: str = Field(description="model folder URL (checkpoint.pt, losses.jsonl, validation.png, tensorboard)")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: cuda when available, else cpu")
    log_interval: int = Field(20, ge=1, description="iterations between loss lines")
    checkpoint_interval: int = Field(200, ge=1, description="iterations between checkpoints")


SPEC = StageSpec(
    name="seg-train",
    summary=__doc__.split(": ", 1)[1].splitlines()[0],
    details=(
        "3D residual U-Net (PyTC `unet_3d` preset or a light one) on BC / BCD targets, BCE+Dice / MSE, "
        "resumable"
    ),
    params=SegTrainParams,
    section="seg",
    inputs=("dataset",),
    outputs=("output",),
    resources=Resources(cpu=4, memory_gib=16, gpu=1),
)
