"""ccgan-transfer: translate an EM volume into the ExM domain with the trained generator G_A (or ExM into EM with G_B), blockwise."""

from __future__ import annotations

from pydantic import Field

from em2exm.ccgan.config import TransferOptions
from em2exm.specs.base import Resources, StageSpec


class TransferParams(TransferOptions):
    """The ``transfer`` options plus this run's checkpoint, inputs and output."""

    checkpoint: str = Field(description="finished ccgan-train output folder URL (or a checkpoint.pt in one)")
    image: str = Field(description="input OME-Zarr image URL: EM for G_A, ExM for G_B, e.g. run/em.zarr")
    labels: str | None = Field(None, description="instance labels of the image, copied unchanged to "
                                                 "<output>/labels/groundtruth; null: none")
    output: str = Field(description="output OME-Zarr URL, e.g. run/transferred.zarr")


SPEC = StageSpec(
    name="ccgan-transfer",
    summary=__doc__.split(": ", 1)[1].splitlines()[0],
    details=(
        "G_A over a whole EM volume, blockwise with overlap blending; EM labels carried over "
        "(`generator: G_B` on ExM: the CCGAN's own segmentation of ExM)"
    ),
    params=TransferParams,
    section="transfer",
    inputs=("checkpoint", "image", "labels"),
    outputs=("output",),
    blockwise=True,
    resources=Resources(cpu=4, memory_gib=16, gpu=1),
)
