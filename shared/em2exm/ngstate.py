"""Neuroglancer viewer states for a run: image and segmentation layers over OME-Zarr, physical voxel sizes,
x,y,z display dimensions."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Layer:
    """One layer: a name, a zarr URL readable by the browser, and whether it holds instance ids."""

    name: str
    url: str
    segmentation: bool = False
    channel: int | None = None
    visible: bool = True


def _source(url: str) -> str:
    if url.startswith("s3://"):
        return "zarr3://" + url
    return "zarr3://" + url.rstrip("/") + "/"


def _layer_json(layer: Layer) -> dict[str, Any]:
    if layer.segmentation:
        return {"type": "segmentation", "source": _source(layer.url), "name": layer.name, "visible": layer.visible}
    entry: dict[str, Any] = {"type": "image", "source": _source(layer.url), "name": layer.name, "visible": layer.visible}
    if layer.channel is not None:
        entry["localDimensions"] = {"c'": [1, ""]}
        entry["localPosition"] = [layer.channel]
        entry["shader"] = "#uicontrol invlerp normalized\nvoid main() { emitGrayscale(normalized()); }"
    return entry


def viewer_state(layers: Sequence[Layer], voxel_size_nm: Sequence[float], shape_zyx: Sequence[int]) -> dict[str, Any]:
    """A state showing ``layers`` at the centre of a volume of ``shape_zyx`` voxels of ``voxel_size_nm``."""
    z, y, x = (float(v) * 1e-9 for v in voxel_size_nm)
    return {
        "dimensions": {"x": [x, "m"], "y": [y, "m"], "z": [z, "m"]},
        "position": [shape_zyx[2] / 2, shape_zyx[1] / 2, shape_zyx[0] / 2],
        "crossSectionScale": 1,
        "projectionScale": max(shape_zyx) * 2,
        "layers": [_layer_json(layer) for layer in layers],
        "layout": "4panel",
        "selectedLayer": {"visible": False},
    }


def state_url(viewer_base: str, state: dict[str, Any]) -> str:
    """A Neuroglancer URL whose fragment carries ``state``."""
    return viewer_base.rstrip("/") + "/#!" + urllib.parse.quote(json.dumps(state, separators=(",", ":")), safe="")
