"""OME-Zarr (NGFF 0.5 on zarr v3) volumes: an image at ``<url>/0`` and instance labels at
``<url>/labels/<name>/0``, physical scale in nanometres, provenance under ``attributes.em2exm``.

One resolution level is written per volume (the pipeline works at one common voxel size);
viewers read it as a single-scale multiscale.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import zarr

from em2exm import __version__, storage
from em2exm.errors import UserError
from em2exm.tiling import triple

NGFF_VERSION = "0.5"
SPACE_AXES = ("z", "y", "x")
OpenMode = Literal["r", "r+"]
"""Read only, or read and write an existing volume."""


def _attr(node: zarr.Group, key: str) -> Any:
    """``node.attrs[key]`` (``{}`` when absent): untyped JSON (NGFF metadata, our provenance)."""
    return node.attrs.get(key, {})


def _axes_meta(axes: Sequence[str]) -> list[dict[str, str]]:
    meta = []
    for name in axes:
        if name == "c":
            meta.append({"name": "c", "type": "channel"})
        else:
            meta.append({"name": name, "type": "space", "unit": "nanometer"})
    return meta


def _multiscales(name: str, axes: Sequence[str], voxel_size: Sequence[float]) -> list[dict[str, Any]]:
    scale = [1.0] * (len(axes) - 3) + [float(v) for v in voxel_size]
    return [
        {
            "name": name,
            "axes": _axes_meta(axes),
            "datasets": [{"path": "0", "coordinateTransformations": [{"type": "scale", "scale": scale}]}],
        }
    ]


def default_chunks(shape: Sequence[int], spatial: Sequence[int] = (64, 64, 64)) -> tuple[int, ...]:
    """Chunks of at most ``spatial`` in z,y,x and one channel per chunk."""
    lead = (1,) * (len(shape) - 3)
    return lead + tuple(min(int(s), int(c)) for s, c in zip(shape[-3:], spatial))


@dataclass
class Volume:
    """An opened OME-Zarr image or label image."""

    url: str
    array: zarr.Array
    voxel_size: tuple[float, float, float]
    axes: tuple[str, ...]
    attrs: dict[str, Any]

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.array.shape)

    @property
    def spatial_shape(self) -> tuple[int, int, int]:
        return triple(self.array.shape[-3:])


def create_image(
    url: str,
    shape: Sequence[int],
    dtype: Any,
    voxel_size: Sequence[float],
    *,
    axes: Sequence[str] = SPACE_AXES,
    chunks: Sequence[int] | None = None,
    provenance: dict[str, Any] | None = None,
    name: str = "image",
) -> zarr.Array:
    """Create (replacing any old one) an OME-Zarr image group at ``url`` and return its level-0 array.

    Only the group's metadata and its ``0`` array are replaced; nothing else under ``url`` is touched."""
    _check_geometry(shape, axes, voxel_size)
    root = zarr.open_group(storage.zarr_store(url), mode="a", zarr_format=3)
    root.attrs.put(
        {
            "ome": {"version": NGFF_VERSION, "multiscales": _multiscales(name, axes, voxel_size)},
            "em2exm": {"version": __version__, **(provenance or {})},
        }
    )
    return root.create_array(
        "0",
        shape=tuple(int(s) for s in shape),
        dtype=dtype,
        chunks=tuple(chunks) if chunks else default_chunks(shape),
        dimension_names=list(axes),
        fill_value=0,
        overwrite=True,
    )


def create_labels(
    image_url: str,
    name: str,
    dtype: Any = np.uint32,
    *,
    chunks: Sequence[int] | None = None,
    provenance: dict[str, Any] | None = None,
) -> zarr.Array:
    """Create (replacing) label image ``name`` beside the image at ``image_url``; same z,y,x grid."""
    image = open_image(image_url)
    if not np.issubdtype(np.dtype(dtype), np.integer):
        raise UserError(f"labels must be integers, got {np.dtype(dtype)}", "store instance ids as uint32/uint64")
    shape = image.spatial_shape
    store = storage.zarr_store(image_url)
    root = zarr.open_group(store, mode="r+", zarr_format=3)
    labels_group = root.require_group("labels")
    names = list(_attr(labels_group, "ome").get("labels", []))
    if name not in names:
        names.append(name)
    labels_group.attrs["ome"] = {"version": NGFF_VERSION, "labels": names}
    group = labels_group.require_group(name)
    group.attrs.put(
        {
            "ome": {
                "version": NGFF_VERSION,
                "multiscales": _multiscales(name, SPACE_AXES, image.voxel_size),
                "image-label": {"source": {"image": "../../"}},
            },
            "em2exm": {"version": __version__, **(provenance or {})},
        }
    )
    return group.create_array(
        "0",
        shape=shape,
        dtype=dtype,
        chunks=tuple(chunks) if chunks else default_chunks(shape),
        dimension_names=list(SPACE_AXES),
        fill_value=0,
        overwrite=True,
    )


def open_image(url: str, mode: OpenMode = "r") -> Volume:
    """Open the OME-Zarr image group at ``url``."""
    return _open(url, mode, what="image")


def open_labels(image_url: str, name: str, mode: OpenMode = "r") -> Volume:
    """Open label image ``name`` of the image at ``image_url``."""
    return _open(storage.join(image_url, "labels", name), mode, what=f"labels '{name}'")


def list_labels(image_url: str) -> list[str]:
    """Names of the label images stored beside the image at ``image_url``."""
    try:
        group = zarr.open_group(storage.zarr_store(image_url, read_only=True), mode="r", path="labels")
    except (FileNotFoundError, zarr.errors.GroupNotFoundError):
        return []
    return list(_attr(group, "ome").get("labels", []))


def _open(url: str, mode: OpenMode, what: str) -> Volume:
    storage.check_reachable(url)
    try:
        group = zarr.open_group(storage.zarr_store(url, read_only=mode == "r"), mode=mode)
        array = group["0"]
    except (FileNotFoundError, KeyError, zarr.errors.GroupNotFoundError, zarr.errors.NodeTypeValidationError) as exc:
        raise UserError(f"no OME-Zarr {what} at {url}", "run the stage that writes it first, or fix the URL") from exc
    if not isinstance(array, zarr.Array):
        raise UserError(f"no OME-Zarr {what} at {url} (its '0' is a group)", "run the stage that writes it first, or fix the URL")
    ome = _attr(group, "ome")
    try:
        multiscale = ome["multiscales"][0]
        axes = tuple(a["name"] for a in multiscale["axes"])
        scale = multiscale["datasets"][0]["coordinateTransformations"][0]["scale"]
        voxel_size = triple(float(v) for v in scale[-3:])
    except (KeyError, IndexError, ValueError) as exc:
        raise UserError(f"{url} has no NGFF multiscales metadata", "write it with em2exm ingest") from exc
    return Volume(
        url=storage.normalise(url),
        array=array,
        voxel_size=voxel_size,
        axes=axes,
        attrs=dict(_attr(group, "em2exm")),
    )


def _check_geometry(shape: Sequence[int], axes: Sequence[str], voxel_size: Sequence[float]) -> None:
    if len(shape) != len(axes):
        raise UserError(f"shape {tuple(shape)} does not match axes {tuple(axes)}", "pass one size per axis")
    if tuple(axes[-3:]) != SPACE_AXES:
        raise UserError(f"axes must end in z,y,x, got {tuple(axes)}", "reorder the volume to (..., z, y, x)")
    if len(voxel_size) != 3 or any(float(v) <= 0 for v in voxel_size):
        raise UserError(f"voxel size must be three positive numbers (z y x nm), got {voxel_size}", "fix --voxel-size")


def image_products(*labels: str) -> tuple[str, ...]:
    """What an OME-Zarr image output of a stage consists of: its metadata, its level-0 array and the label images
    the stage writes (``labels/<name>``; other label images beside them are not the stage's)."""
    return ("zarr.json", "0", *(f"labels/{name}" for name in labels))


def remove_labels(image_url: str, name: str) -> None:
    """Delete label image ``name`` of the image at ``image_url`` and drop it from the labels group's list."""
    storage.remove(storage.join(image_url, "labels", name))
    try:
        group = zarr.open_group(storage.zarr_store(image_url), mode="r+", path="labels")
    except (FileNotFoundError, zarr.errors.GroupNotFoundError, zarr.errors.ContainsArrayError):
        return
    names = [n for n in _attr(group, "ome").get("labels", []) if n != name]
    group.attrs["ome"] = {**_attr(group, "ome"), "labels": names}


def read_region(volume: Volume, box: tuple[slice, ...], fix: str = "the volume is corrupt: rewrite it") -> np.ndarray:
    """``volume.array[box]`` as numpy; a corrupt or truncated chunk becomes a UserError with ``fix``."""
    try:
        return np.asarray(volume.array[box])
    except (OSError, RuntimeError, ValueError) as exc:
        raise UserError(f"cannot read {volume.url} at {box} ({exc})", fix) from exc


class Regions:
    """A volume as an array-like read region by region through :func:`read_region` (for block readers)."""

    def __init__(self, volume: Volume, fix: str) -> None:
        self.volume, self.fix = volume, fix

    @property
    def shape(self) -> tuple[int, ...]:
        return self.volume.shape

    def __getitem__(self, box: tuple[slice, ...]) -> np.ndarray:
        return read_region(self.volume, box, self.fix)
