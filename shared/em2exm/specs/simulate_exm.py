"""simulate-exm: render an ExM-like membrane image (uint8 OME-Zarr + labels/groundtruth) from instance labels."""

from __future__ import annotations

from pydantic import Field

from em2exm.simulate.options import SimulateOptions
from em2exm.specs.base import Resources, StageSpec


class SimulateParams(SimulateOptions):
    """The ``simulate`` options plus this run's input and output."""

    labels: str = Field(description="OME-Zarr instance label image URL, e.g. run/em.zarr/labels/groundtruth")
    output: str = Field(description="output OME-Zarr URL (the simulated image plus the labels on its grid), e.g. "
                                    "run/simulated.zarr")


SPEC = StageSpec(
    name="simulate-exm",
    summary=__doc__.split(": ", 1)[1].splitlines()[0],
    details=(
        "an ExM-like membrane image rendered from instance labels (PSF / expansion, shot and read "
        "noise), blockwise, seeded"
    ),
    params=SimulateParams,
    section="simulate",
    inputs=("labels",),
    outputs=("output",),
    blockwise=True,
    resources=Resources(cpu=2, memory_gib=8),
)
