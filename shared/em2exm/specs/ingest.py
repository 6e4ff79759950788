"""ingest: raw EM/ExM volumes (tiff, h5, zarr, slice folders) -> normalised OME-Zarr at a common voxel size."""

from __future__ import annotations

from pydantic import Field

from em2exm.config import IngestOptions, Nanometres
from em2exm.specs.base import Resources, StageSpec


class IngestParams(IngestOptions):
    """Everything one ingest needs: the shared options plus this volume's inputs and output."""

    image: str = Field(description="input image: .tif, file.h5:/dataset, .zarr or a folder of slices (path or URL)")
    labels: str | None = Field(None, description="instance labels of the same volume and shape (0 = background); "
                                                 "null: none")
    labels_name: str = Field("groundtruth", description="name of the label image in the output (labels/<name>)")
    voxel_size: Nanometres | None = Field(None, description="input voxel size (z, y, x) in nm; null: the one the image "
                                                        "file declares")
    expansion_factor: float = Field(1.0, gt=0, description="ExM expansion factor: the voxel size is divided by it to "
                                                           "give pre-expansion nm (1 for EM)")
    target_voxel_size: Nanometres | None = Field(None, description="resample to this voxel size (z, y, x) in "
                                                               "(pre-expansion) nm; null: voxel_size / "
                                                               "expansion_factor, no resampling")
    subvolume: int | None = Field(None, description="index of the volume to read from a 4D stack of sub-volumes; "
                                                    "null: the input is 3D")
    channel: int | None = Field(None, ge=0, description="the channel to ingest from a multi-channel (e.g. RGB) image")
    output: str = Field(description="output OME-Zarr URL")


SPEC = StageSpec(
    name="ingest",
    summary=__doc__.split(": ", 1)[1].splitlines()[0],
    details=(
        "tiff (incl. 4D stacks) / h5 (`file.h5:/dataset`) / zarr / slice folders → OME-Zarr at the "
        "common voxel size (ExM voxel / expansion factor), uint8"
    ),
    params=IngestParams,
    section="ingest",
    inputs=("image", "labels"),
    outputs=("output",),
    flags=("labels_name", "voxel_size", "expansion_factor", "target_voxel_size", "subvolume", "channel"),
    resources=Resources(cpu=2, memory_gib=8),
)
