"""visualize: PNG previews, loss curves, a Neuroglancer state and report.md for a run store."""

from __future__ import annotations

from pydantic import Field

from em2exm.config import StrictModel
from em2exm.layout import RunLayout
from em2exm.specs.base import Resources, StageSpec


class VisualizeParams(StrictModel):
    """Options of the visualize stage."""

    run: str = Field(description="the run's store URL (holds em.zarr, exm.zarr, experiments/...)")
    output: str | None = Field(None, description="report folder URL; null: <run>/report")

    @property
    def report(self) -> str:
        """The report folder this run writes."""
        return self.output or RunLayout(self.run).report


SPEC = StageSpec(
    name="visualize",
    summary=__doc__.split(": ", 1)[1].splitlines()[0],
    details=(
        "report.md with the experiment table, PNG previews, loss curves, Neuroglancer state (`em2exm "
        "view RUN_DIR`)"
    ),
    params=VisualizeParams,
    section="visualize",
    inputs=(),
    outputs=("output",),
    flags=("run",),  # the store root: the pipeline waits for every step instead (an identity of it would change
    #                  with every file the run writes, the report included)
    resources=Resources(cpu=1, memory_gib=4),
    writes=lambda params: (params.report,),
)
