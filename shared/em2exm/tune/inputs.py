"""Where tune-decode reads: the predictions, the labels and their boxes, and what the run recorded (the decode
options it decoded with, the region and small-object setting its evaluation scored with)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from em2exm import ome, readers, storage
from em2exm.decode.options import DecodeOptions
from em2exm.errors import UserError
from em2exm.layout import INSTANCES, RunLayout
from em2exm.tiling import triple
from em2exm.tune.options import TuneDecodeParams
from em2exm.tune.scorer import Box, box_text, parse_box


@dataclass(frozen=True)
class Sources:
    """The resolved locations and what the run says about them."""

    predictions: str
    labels: str
    evaluation: dict[str, Any]
    """The run's metrics.json of the experiment (empty without one)."""


def sources(params: TuneDecodeParams) -> Sources:
    """Predictions and labels URLs, from the flags or the run's layout."""
    layout = RunLayout(params.run) if params.run else None
    if layout is None:
        if not params.predictions:
            raise UserError("tune-decode needs predictions", "pass --run RUN [--experiment NAME] or --predictions URL")
        if not params.labels:
            raise UserError("tune-decode needs ground-truth labels", "pass --labels URL (or --run RUN for its ExM labels)")
        predictions, labels = params.predictions, params.labels
    else:
        predictions = params.predictions or layout.predictions(params.experiment)
        labels = params.labels or layout.labels(layout.exm)
    evaluation: dict[str, Any] = {}
    if layout is not None:
        try:
            evaluation = json.loads(storage.read_bytes(layout.metrics(params.experiment)))
        except (FileNotFoundError, ValueError):
            evaluation = {}
    return Sources(predictions, labels, evaluation)


def open_predictions(url: str, float_scale: float | None) -> ome.Volume:
    """The predictions: (C, Z, Y, X) uint8 maps (float maps with ``float_scale``), as decode reads them."""
    try:
        volume = ome.open_image(url)
    except ValueError as exc:
        raise UserError(f"the predictions at {url} have unreadable metadata ({exc})", "rewrite them with seg-infer") from exc
    dtype = volume.array.dtype
    if volume.array.ndim != 4:
        raise UserError(f"the predictions at {url} have shape {volume.shape}, not (C, Z, Y, X)",
                        "pass the maps written by seg-infer (axes c,z,y,x)")
    if dtype != np.uint8 and not (np.issubdtype(dtype, np.floating) and float_scale is not None):
        raise UserError(f"the predictions at {url} are {dtype}, not uint8",
                        "pass uint8 maps (0..255) or, for float probabilities, set float_scale=255")
    return volume


def recorded_decode(predictions: str) -> dict[str, Any]:
    """The decode options the run decoded ``predictions`` with (empty when it has not decoded them)."""
    try:
        recorded = ome.open_labels(predictions, INSTANCES).attrs.get("params") or {}
    except UserError:
        return {}
    return {k: v for k, v in recorded.items() if k in DecodeOptions.model_fields}


def search_box(params: TuneDecodeParams, found: Sources, shape: tuple[int, int, int]) -> Box:
    """The box searched: ``crop``, else the region the run's evaluation scored, else the whole volume."""
    if params.crop is not None:
        return parse_box(params.crop, shape, "crop")
    region = found.evaluation.get("region")
    if region and len(region) == 3:
        return parse_box(",".join(f"{a}:{b}" for a, b in region), shape, "the run's evaluation region")
    return triple(slice(0, n) for n in shape)


def ignored(params: TuneDecodeParams, found: Sources) -> int:
    """Ground-truth instances smaller than this are ignored: the option, else what the run's evaluation used."""
    if params.ignore_gt_smaller_than is not None:
        return params.ignore_gt_smaller_than
    return int(found.evaluation.get("ignore_gt_smaller_than") or 0)


class Labels:
    """Ground-truth labels, either on the predictions' grid or holding exactly the searched box."""

    def __init__(self, url: str, shape: tuple[int, int, int], box: Box) -> None:
        try:
            volume = ome.open_image(url)
            self.array: Any = ome.Regions(volume, "the labels are corrupt: rewrite them")
            found = volume.spatial_shape if volume.array.ndim == 3 else volume.shape
            dtype = volume.array.dtype
        except UserError:
            data = readers.read_volume(url).data
            self.array, found, dtype = data, data.shape, data.dtype
        if not np.issubdtype(dtype, np.integer):
            raise UserError(f"the labels at {url} are {dtype}, not integer ids", "pass an instance label volume")
        crop = tuple(s.stop - s.start for s in box)
        if tuple(found) not in (tuple(shape), crop):
            raise UserError(f"the labels at {url} have shape {tuple(found)}, neither the predictions' {shape} nor the "
                            f"crop's {crop}", "pass labels of the predictions' volume, or of exactly the crop")
        self.url, self.whole = url, tuple(found) == tuple(shape)

    def of(self, box: Box, searched: Box) -> np.ndarray:
        """The labels of ``box`` (a crop-sized volume holds only ``searched``)."""
        if self.whole:
            return np.asarray(self.array[box])
        if box != searched:
            raise UserError(f"the labels at {self.url} hold only the crop {box_text(searched)}",
                            "score a holdout box with labels of the whole predictions volume")
        return np.asarray(self.array[(slice(None),) * 3])
