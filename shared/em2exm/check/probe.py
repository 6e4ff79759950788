"""Open an input volume without reading its voxels: shape, dtype and declared voxel size from its header
(tiff, h5 ``file.h5:/dataset``, zarr / OME-Zarr, a folder of 2D slices; local or in object storage)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from em2exm import storage
from em2exm.errors import UserError
from em2exm.readers import CHANNEL_AXES, H5_SUFFIXES, SLICE_SUFFIXES, source_path


@dataclass(frozen=True)
class Header:
    """What a volume's header says."""

    shape: tuple[int, ...]
    dtype: np.dtype
    axes: str | None = None
    voxel_size: tuple[float, ...] | None = None

    @property
    def itemsize(self) -> int:
        return self.dtype.itemsize


def header(location: str) -> Header:
    """The header of the volume at ``location``; a UserError when it is missing or unreadable."""
    path = source_path(location)
    storage.check_url(path)
    storage.check_reachable(path)
    local = storage.protocol_of(path) == "file"
    if (local and not os.path.exists(path)) or (not local and not storage.exists(path)):
        raise UserError(f"input {path} does not exist", "check the path (h5 datasets are written file.h5:/dataset)")
    lower = path.lower().rstrip("/")
    try:
        if lower.endswith(H5_SUFFIXES):
            return _h5(path, location[len(path) + 1:] or None)
        if lower.endswith((".tif", ".tiff")):
            return _tiff(path)
        if lower.endswith(".zarr") or not local:
            return _zarr(path)
        if os.path.isdir(path):
            return _slices(path)
    except UserError:
        raise
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise UserError(f"cannot read the header of {location} ({type(exc).__name__}: {exc})",
                        "re-export or re-copy it") from exc
    raise UserError(f"cannot tell the format of {path}", "use .tif/.tiff, .h5:/dataset, .zarr or a folder of slices")


def _tiff(path: str) -> Header:
    import tifffile

    with tifffile.TiffFile(path) as tif:
        if not tif.series:
            raise ValueError("no readable TIFF pages")
        series = tif.series[0]
        return Header(tuple(series.shape), np.dtype(series.dtype), series.axes)


def _h5(path: str, dataset: str | None) -> Header:
    import h5py

    with h5py.File(path, "r") as handle:
        names: list[str] = []
        handle.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
        if dataset is None and len(names) != 1:
            raise UserError(f"{path} holds datasets {names}", f"name one, e.g. {path}:/{names[0] if names else 'raw'}")
        name = dataset or names[0]
        if name not in handle:
            raise UserError(f"{path} has no dataset '{name}'", "name an existing dataset after the ':'")
        node = handle[name]
        spacing = node.attrs.get("resolution", node.attrs.get("element_size_um"))
        voxel = tuple(float(v) for v in spacing) if spacing is not None and len(spacing) == 3 else None
        return Header(tuple(node.shape), np.dtype(node.dtype), voxel_size=voxel)


def _zarr(url: str) -> Header:
    import zarr

    from em2exm import ome

    node = zarr.open(storage.zarr_store(url, read_only=True), mode="r")
    if isinstance(node, zarr.Array):
        return Header(tuple(node.shape), np.dtype(node.dtype))
    if "ome" in node.attrs or "multiscales" in node.attrs:
        volume = ome.open_image(url)
        return Header(volume.shape, np.dtype(volume.array.dtype), "".join(volume.axes), volume.voxel_size)
    raise UserError(f"{url} is a zarr group without an image", "point at the array or an OME-Zarr image group")


def _slices(folder: str) -> Header:
    import tifffile
    from PIL import Image

    names = sorted(n for n in os.listdir(folder) if n.lower().endswith(SLICE_SUFFIXES))
    if not names:
        raise UserError(f"folder {folder} has no .tif/.png slices", "point at a folder of 2D slices")
    first = os.path.join(folder, names[0])
    if first.lower().endswith((".tif", ".tiff")):
        with tifffile.TiffFile(first) as tif:
            plane, dtype = tuple(tif.series[0].shape), np.dtype(tif.series[0].dtype)
    else:
        with Image.open(first) as image:
            plane, dtype = (image.height, image.width), np.dtype(np.uint16 if image.mode.startswith("I;16") else np.uint8)
    return Header((len(names), *plane[:2]), dtype)


def spatial_shape(found: Header, subvolume: int | None, channel: int | None) -> tuple[tuple[int, int, int] | None, str]:
    """The (z, y, x) shape ingest will read with ``subvolume`` / ``channel``, or None and why it is no 3D volume."""
    shape, axes = list(found.shape), found.axes or ""
    declared = [i for i, name in enumerate(axes) if name in CHANNEL_AXES and i < len(shape)]
    if declared:
        shape.pop(declared[0])
    elif channel is not None and len(shape) == 4:
        shape.pop(0)
    if len(shape) == 4 and subvolume is not None:
        shape.pop(0)
    if len(shape) == 3:
        return (shape[0], shape[1], shape[2]), ""
    if len(shape) == 4:
        return None, f"a 4D stack {found.shape}: ingest needs subvolume (or channel) to pick one volume"
    return None, f"{len(found.shape)}D with shape {found.shape}: ingest needs a 3D (z,y,x) volume"
