"""The options of ``em2exm tune-decode``: the decode options it starts from (the baseline) plus the search's."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from em2exm.decode.options import MODES, DecodeOptions

Metric = Literal["voi", "rand", "ap50"]
SEARCHED = ("thres1", "thres2", "thres3", "thres4", "thres5", "thres_small")
"""The decode options a search may vary (those the decoder takes)."""


class TuneDecodeParams(DecodeOptions):
    """Decode options to start from, where to read predictions and labels, and how to search."""

    run: str | None = Field(None, description="run store URL: predictions and labels default to its experiment's maps "
                                              "and its ExM ground truth, crop and ignore_gt_smaller_than to what its "
                                              "evaluation used, the baseline to the decode options it decoded with")
    experiment: str = Field("oracle", description="experiment of --run whose predictions are decoded")
    predictions: str | None = Field(None, description="predictions URL (uint8 c,z,y,x maps written by seg-infer); "
                                                      "default: <run>/experiments/<experiment>/predictions.zarr")
    labels: str | None = Field(None, description="ground-truth labels: a label image URL on the predictions' grid "
                                                 "(default <run>/exm.zarr/labels/groundtruth), or any labels volume "
                                                 "(tif, h5, zarr) of the predictions' shape or of the crop's shape")
    crop: str | None = Field(None, description="box 'z0:z1,y0:y1,x0:x1' of the predictions scored during the search "
                                               "(voxels, end exclusive, an empty end is the volume's edge); default: "
                                               "the region the run's evaluation scored, else the whole volume")
    holdout: str | None = Field(None, description="another box, scored only with the baseline and the best options "
                                                  "(not searched): whether the tuned thresholds carry over")
    metric: Metric = Field("voi", description="what the search optimises: voi (split + merge, lower is better), "
                                              "rand (adapted Rand error as scikit-image, lower is better) or ap50 "
                                              "(AP at IoU 0.5, higher is better)")
    search: Literal["coordinate", "grid"] = Field(
        "coordinate", description="coordinate: sweep one parameter at a time through its values, keep the best, "
                                  "repeat for `rounds` passes; grid: every combination of the values")
    modes: tuple[Literal["bc_watershed", "bcd_watershed", "binary_watershed", "bc_connected"], ...] = Field(
        (), description=f"decoders to tune (any of {', '.join(MODES)} that fit the maps' channels), each from its own "
                        "defaults; default: the baseline's decoder only, from the baseline")
    vary: tuple[Literal["thres1", "thres2", "thres3", "thres4", "thres5", "thres_small"], ...] = Field(
        (), description="parameters searched; default: every threshold the decoder takes, and thres_small")
    values: dict[str, tuple[float, ...]] = Field(
        {}, description="candidate values per parameter, e.g. {thres1: [0.5, 0.7, 0.9]}; default: 0.01, 0.02, "
                        "0.05..0.95 in steps of 0.05, 0.98, 0.99 for probabilities (thres1-3), -0.9..0.9 in steps of 0.1 for distances "
                        "(thres4-5), 0, 16, 32, 64, 128, 256, 512 voxels for thres_small; the start value is always "
                        "tried")
    rounds: int = Field(3, ge=1, description="coordinate search: passes over the parameters at most (it stops after a "
                                             "pass that changes nothing)")
    max_candidates: int = Field(2000, ge=1, description="refuse a search of more candidates than this (grid: the "
                                                        "product of the value counts)")
    margin: tuple[int, int, int] = Field((16, 64, 64), description="context (z, y, x voxels) decoded around a box "
                                                                   "(clipped to the volume): objects cut by the box "
                                                                   "are decoded as in the whole volume when it is "
                                                                   "at least their size")
    ignore_gt_smaller_than: int | None = Field(
        None, ge=0, description="ground-truth instances of fewer voxels in the box count for no score (as evaluate's "
                                "option); default: what the run's evaluation used, else 0")
    output: str = Field(description="folder URL for best.yaml (the decode section to paste), search.csv, search.md, "
                                    "search.png and result.json")

    @field_validator("values")
    @classmethod
    def _known(cls, value: dict[str, tuple[float, ...]]) -> dict[str, tuple[float, ...]]:
        unknown = sorted(set(value) - set(SEARCHED))
        if unknown:
            raise ValueError(f"values for {unknown}: only {', '.join(SEARCHED)} are searched")
        if any(not v for v in value.values()):
            raise ValueError("every parameter in values needs at least one value")
        return value

    def baseline(self) -> DecodeOptions:
        """The decode options the search starts from."""
        return DecodeOptions.model_validate(self.model_dump(include=set(DecodeOptions.model_fields)))
