"""Neuroglancer viewer states for a run: image and segmentation layers over OME-Zarr, physical voxel sizes,
x,y,z display dimensions, and the default view (:func:`arrange`).

Layers are named as the visualize stage names them: ``exm``, ``exm:<labels>``, ``em``, ``em:<labels>``,
``transferred/<name>[:<labels>]``, ``<experiment>/predictions`` (maps) and ``<experiment>/predictions:instances``.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

TARGET = "exm"
GROUNDTRUTH = f"{TARGET}:groundtruth"
MAPS_SUFFIX = "/predictions"
INSTANCES = "instances"
MAP_COLOURS = {"foreground": "#00ff00", "contour": "#ff00ff", "distance": "#00ffff"}
"""How each named map is drawn over the ExM image (any other name: white)."""
MAP_OPACITY = 0.5
SEGMENTATION_ALPHA = 0.3
"""Instances and ground truth drawn lightly, so the ExM image shows through both."""
FIT_PIXELS = 480
"""The width in screen pixels the volume's larger side fills when the viewer opens."""


@dataclass(frozen=True)
class Layer:
    """One layer: a name, a zarr URL readable by the browser, and whether it holds instance ids."""

    name: str
    url: str
    segmentation: bool = False
    channel: int | None = None


def _source(url: str) -> str:
    if url.startswith("s3://"):
        return "zarr3://" + url
    return "zarr3://" + url.rstrip("/") + "/"


def _layer_json(layer: Layer) -> dict[str, Any]:
    if layer.segmentation:
        return {"type": "segmentation", "source": _source(layer.url), "name": layer.name}
    entry: dict[str, Any] = {"type": "image", "source": _source(layer.url), "name": layer.name}
    if layer.channel is not None:
        entry["localDimensions"] = {"c'": [1, ""]}
        entry["localPosition"] = [layer.channel]
        entry["shader"] = "#uicontrol invlerp normalized\nvoid main() { emitGrayscale(normalized()); }"
    return entry


def viewer_state(layers: Sequence[Layer], voxel_size_nm: Sequence[float], shape_zyx: Sequence[int]) -> dict[str, Any]:
    """A state showing ``layers`` at the centre of a volume of ``shape_zyx`` voxels of ``voxel_size_nm``, arranged
    by :func:`arrange` as far as the layers tell (`em2exm view` arranges it again knowing the best experiment and
    the maps' channel names)."""
    z, y, x = (float(v) * 1e-9 for v in voxel_size_nm)
    state = {
        "dimensions": {"x": [x, "m"], "y": [y, "m"], "z": [z, "m"]},
        "position": [shape_zyx[2] / 2, shape_zyx[1] / 2, shape_zyx[0] / 2],
        "crossSectionScale": 1,
        "projectionScale": max(shape_zyx) * 2,
        "layers": [_layer_json(layer) for layer in layers],
        "selectedLayer": {"visible": False},
    }
    return arrange(state, None, {})


def channel_shader(name: str) -> str:
    """A map channel drawn in one colour, as opaque as the map is high; its controls are named after it."""
    return "\n".join([f'#uicontrol vec3 colour color(default="{MAP_COLOURS.get(name, "#ffffff")}")',
                      f"#uicontrol invlerp {name}(range=[0, 255])",
                      f"void main() {{ emitRGBA(vec4(colour, {name}())); }}"])


def is_maps(layer: Mapping[str, Any]) -> bool:
    """Whether a layer holds an experiment's multi-channel maps, not yet split into one layer per channel."""
    return layer.get("type") == "image" and str(layer.get("name", "")).endswith(MAPS_SUFFIX)


def split_maps(layer: Mapping[str, Any], names: Sequence[str]) -> list[dict[str, Any]]:
    """One layer per channel of a maps layer, ``<experiment>/predictions:<channel name>``.  (One layer cannot draw
    them all: Neuroglancer's shaders read channels only along a channel axis held in whole chunks, and the maps keep
    one channel per chunk.)"""
    plain = {k: v for k, v in layer.items() if k not in ("name", "localDimensions", "localPosition", "shader")}
    return [{**plain, "name": f"{layer['name']}:{name}", "localDimensions": {"c'": [1, ""]},
             "localPosition": [index + 0.5], "shader": channel_shader(name), "opacity": MAP_OPACITY}
            for index, name in enumerate(names)]


def is_source_domain(name: str) -> bool:
    """Whether a layer shows the EM side: the EM itself or EM transferred to look like ExM."""
    return name == "em" or name.startswith(("em:", "transferred/"))


def _order(name: str, best: str | None) -> int:
    """ExM image, its ground truth, the best experiment's instances and maps, the other experiments, the rest (a
    stable sort keeps channel order within each)."""
    if name == TARGET:
        return 0
    if name == GROUNDTRUTH:
        return 1
    if best is not None and name == f"{best}{MAPS_SUFFIX}:{INSTANCES}":
        return 2
    if best is not None and name.startswith(best + MAPS_SUFFIX):
        return 3
    return 4 if MAPS_SUFFIX in name else 5


def _in_panels(name: str, best: str | None) -> bool:
    """Whether a layer sits in a panel's layer bar: the ExM image and its labels, the best experiment's layers and
    the EM side; the other experiments' layers are archived (listed only in the layer list, a click away)."""
    return (name == TARGET or name.startswith(TARGET + ":") or is_source_domain(name)
            or (best is not None and name.startswith(best + MAPS_SUFFIX)))


def _fit_scale(state: Mapping[str, Any]) -> float:
    """The cross-section scale (voxels per screen pixel) at which the volume's larger x/y side fills FIT_PIXELS;
    the state's position is the volume's centre."""
    x, y = state["position"][:2]
    return max(2 * x, 2 * y) / FIT_PIXELS


def arrange(state: dict[str, Any], best: str | None, channels: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """The view a user comes to see: the ExM image, its ground truth and ``best``'s instances visible, every other
    layer listed but hidden; each experiment's maps as one named, semi-transparent layer per channel (``channels``:
    the channel names of a maps layer, by layer name; a maps layer whose names are not known stays one layer with
    a channel slider); the EM and transferred EM in a second panel.  Idempotent: a saved state arranges again."""
    shown = {TARGET, GROUNDTRUTH} | ({f"{best}{MAPS_SUFFIX}:{INSTANCES}"} if best else set())
    layers = []
    for layer in state["layers"]:
        if is_maps(layer) and channels.get(layer["name"]):
            layers += split_maps(layer, channels[layer["name"]])
            continue
        layer = {**layer}
        if layer["name"] == TARGET:
            layer["opacity"] = 1.0
        if layer["type"] == "segmentation":
            layer["selectedAlpha"] = SEGMENTATION_ALPHA
        layers.append(layer)
    for layer in layers:
        layer["visible"] = layer["name"] in shown
        layer["archived"] = not _in_panels(layer["name"], best)
    layers.sort(key=lambda layer: (is_source_domain(layer["name"]), _order(layer["name"], best)))
    target = [layer["name"] for layer in layers if not layer["archived"] and not is_source_domain(layer["name"])]
    source = [layer["name"] for layer in layers if not layer["archived"] and is_source_domain(layer["name"])]
    panels = [{"type": "viewer", "layers": target, "layout": "xy", "flex": 2}]
    if source:
        panels.append({"type": "viewer", "layers": source, "layout": "xy", "flex": 1})
    return {**state, "layers": layers, "crossSectionScale": _fit_scale(state), "layerListPanel": {"visible": True},
            "layout": {"type": "row", "children": panels}}


def state_url(viewer_base: str, state: dict[str, Any]) -> str:
    """A Neuroglancer URL whose fragment carries ``state``."""
    return viewer_base.rstrip("/") + "/#!" + urllib.parse.quote(json.dumps(state, separators=(",", ":")), safe="")
