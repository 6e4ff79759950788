"""decode: network maps (uint8 C,Z,Y,X OME-Zarr from seg-infer) -> instance labels, blockwise with stitching."""

from __future__ import annotations

from pydantic import Field

from em2exm import storage
from em2exm.decode.options import DecodeOptions
from em2exm.specs.base import Pass, Resources, StageSpec


class DecodeParams(DecodeOptions):
    """The decode options plus this run's input and label name."""

    predictions: str = Field(description="OME-Zarr image of uint8 maps (c, z, y, x) written by seg-infer")
    name: str = Field("instances", pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$",
                      description="name of the label image written to <predictions>/labels/<name>")

    @property
    def labels(self) -> str:
        """The label image this decode writes."""
        return storage.join(self.predictions, "labels", self.name)


SPEC = StageSpec(
    name="decode",
    summary=__doc__.split(": ", 1)[1].splitlines()[0],
    details=(
        "BC/BCD watershed identical to PyTC v1.0; blockwise, stitched to the whole-volume labels and ids "
        "for objects of any size (only voxels on exact plateaus may differ, see ARCHITECTURE.md); "
        "`small_inclusive` picks scikit-image 0.26's size rule (`<= thres_small` removed, the default) "
        "or 0.25's (`<`)"
    ),
    params=DecodeParams,
    section="decode",
    inputs=("predictions",),
    outputs=(),
    flags=("name",),
    blockwise=True,
    passes=(
        Pass("merge", False, "join seed pieces across faces into seeds (once, serial; per piece)"),
        Pass("flood", True, "flood the open voxels of blocks START:STOP for the flood's current round, "
             "among themselves until none is stale"),
        Pass("settle", False, "close the flood's round: print 'done' if no block is stale, else 'again' "
             "(then run --flood over every block once more)", settles="flood"),
        Pass("number", False, "number the instances 1..N (once, serial; per instance)"),
        Pass("apply", True, "write the final ids of blocks START:STOP"),
    ),
    resources=Resources(cpu=2, memory_gib=8),
    writes=lambda params: (params.labels,),
)
