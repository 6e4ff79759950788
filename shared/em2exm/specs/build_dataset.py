"""build-dataset: pair an image volume (e.g. CCGAN-transferred EM) with instance labels, split train/val."""

from __future__ import annotations

from pydantic import Field

from em2exm.config import DatasetOptions
from em2exm.specs.base import Resources, StageSpec


class BuildDatasetParams(DatasetOptions):
    """Inputs and output of one dataset."""

    image: str = Field(description="OME-Zarr image URL (uint8): transferred EM, raw EM or ExM")
    labels: str = Field(description="OME-Zarr label image URL of the same shape, e.g. <em.zarr>/labels/groundtruth")
    output: str = Field(description="dataset folder URL")


SPEC = StageSpec(
    name="build-dataset",
    summary=__doc__.split(": ", 1)[1].splitlines()[0],
    details="image + labels → train/val OME-Zarr (or PyTC-compatible h5)",
    params=BuildDatasetParams,
    section="dataset",
    inputs=("image", "labels"),
    outputs=("output",),
    flags=("format",),
    resources=Resources(cpu=1, memory_gib=8),
)
