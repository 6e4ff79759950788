"""match-intensity: the no-learning baseline -- EM inverted, blurred and histogram-matched to an ExM volume, blockwise."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from em2exm.config import MatchOptions
from em2exm.specs.base import Resources, StageSpec


class MatchParams(MatchOptions):
    """The ``match`` options plus this run's inputs and output."""

    image: str = Field(description="EM OME-Zarr image URL (uint8), e.g. run/em.zarr")
    labels: str | None = Field(None, description="its instance labels, copied unchanged to "
                                                 "<output>/labels/groundtruth; null: none")
    target: str = Field(description="the ExM OME-Zarr image URL (uint8) whose look is matched, e.g. run/exm.zarr")
    output: str = Field(description="output OME-Zarr URL, e.g. run/transferred/intensity.zarr")
    source: Literal["image", "labels"] = Field(
        "image", description="what is made to look like ExM: the EM image, or its instance labels drawn as "
                             "membranes (a band two voxels wide at every boundary between instances, in 3-D; for "
                             "membrane-stained ExM, where the EM's organelles are structure the stain does not show); "
                             "the pipeline sets it per experiment (intensity: image, drawn: labels)")


SPEC = StageSpec(
    name="match-intensity",
    summary=__doc__.split(": ", 1)[1].splitlines()[0],
    details=(
        "the no-learning baselines: EM (or, with `source: labels`, its labels drawn as membranes) "
        "inverted when its histogram is skewed the other way from ExM's, blurred to the ExM resolution "
        "(given, or matched by autocorrelation), histogram-matched; blockwise"
    ),
    params=MatchParams,
    section="match",
    inputs=("image", "labels", "target"),
    outputs=("output",),
    flags=("source",),
    blockwise=True,
    resources=Resources(cpu=2, memory_gib=8),
)
