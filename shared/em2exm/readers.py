"""Read raw volumes from tiff (incl. 4D stacks of sub-volumes), h5 (``file.h5:/dataset``), zarr /
OME-Zarr, and folders of 2D tiff/png slices, into numpy with one clear error per kind of bad input."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np

from em2exm import storage
from em2exm.errors import UserError

SLICE_SUFFIXES = (".tif", ".tiff", ".png")
H5_SUFFIXES = (".h5", ".hdf5", ".hdf")


@dataclass
class RawVolume:
    """A volume read from disk, with the voxel size its file declared (if any)."""

    data: np.ndarray
    voxel_size: tuple[float, float, float] | None = None


def read_volume(location: str, subvolume: int | None = None) -> RawVolume:
    """Read ``location`` as a 3D (z,y,x) array; ``subvolume`` picks one volume of a 4D stack."""
    path, dataset = _split_h5(location)
    if storage.protocol_of(path) == "file" and not os.path.exists(path):
        raise UserError(f"input {path} does not exist", "check the path (h5 datasets are written file.h5:/dataset)")
    lower = path.lower().rstrip("/")
    try:
        if lower.endswith(H5_SUFFIXES):
            volume = _read_h5(path, dataset)
        elif lower.endswith((".tif", ".tiff")):
            volume = RawVolume(_read_tiff(path))
        elif lower.endswith(".zarr") or storage.protocol_of(path) != "file":
            volume = _read_zarr(path)
        elif os.path.isdir(path):
            volume = RawVolume(_read_slices(path))
        else:
            raise UserError(f"cannot tell the format of {path}", "use .tif/.tiff, .h5:/dataset, .zarr or a folder of slices")
    except UserError:
        raise
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise UserError(f"cannot read {location}: the file is corrupt or truncated ({exc})", "re-export or re-copy it") from exc
    return RawVolume(_pick_subvolume(volume.data, subvolume, location), volume.voxel_size)


def _split_h5(location: str) -> tuple[str, str | None]:
    for suffix in H5_SUFFIXES:
        marker = suffix + ":"
        if marker in location.lower():
            cut = location.lower().index(marker) + len(suffix)
            return location[:cut], location[cut + 1 :] or None
    return location, None


def _read_tiff(path: str) -> np.ndarray:
    import tifffile

    logging.getLogger("tifffile").setLevel(logging.CRITICAL)
    with tifffile.TiffFile(path) as tif:
        if len(tif.pages) == 0:
            raise ValueError("no readable TIFF pages")
        data = np.asarray(tif.asarray())
    if data.size == 0:
        raise ValueError("no image data")
    return data


def _read_h5(path: str, dataset: str | None) -> RawVolume:
    import h5py

    with h5py.File(path, "r") as handle:
        if dataset is None:
            names: list[str] = []
            handle.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
            if len(names) != 1:
                raise UserError(f"{path} holds datasets {names}", f"name one, e.g. {path}:/{names[0] if names else 'raw'}")
            dataset = names[0]
        if dataset not in handle:
            raise UserError(f"{path} has no dataset '{dataset}'", "name an existing dataset after the ':'")
        node = handle[dataset]
        data = np.asarray(node[...])
        spacing = node.attrs.get("resolution", node.attrs.get("element_size_um"))
    voxel = tuple(float(v) for v in spacing) if spacing is not None and len(spacing) == 3 else None
    return RawVolume(data, voxel)  # type: ignore[arg-type]


def _read_zarr(url: str) -> RawVolume:
    import zarr

    from em2exm import ome

    node = zarr.open(storage.zarr_store(url, read_only=True), mode="r")
    if isinstance(node, zarr.Array):
        return RawVolume(np.asarray(node[...]))
    if "ome" in node.attrs or "multiscales" in node.attrs:
        volume = ome.open_image(url)
        return RawVolume(np.asarray(volume.array[...]), volume.voxel_size)
    raise UserError(f"{url} is a zarr group without an image", "point at the array or an OME-Zarr image group")


def _read_slices(folder: str) -> np.ndarray:
    import tifffile
    from skimage.io import imread

    names = sorted(n for n in os.listdir(folder) if n.lower().endswith(SLICE_SUFFIXES))
    if not names:
        raise UserError(f"folder {folder} has no .tif/.png slices", "point at a folder of 2D slices")
    slices = []
    for name in names:
        full = os.path.join(folder, name)
        plane = tifffile.imread(full) if name.lower().endswith((".tif", ".tiff")) else imread(full)
        if plane.ndim == 3 and plane.shape[-1] in (3, 4):
            plane = plane[..., :3].mean(axis=-1).astype(plane.dtype)
        slices.append(plane)
    shapes = {s.shape for s in slices}
    if len(shapes) != 1:
        raise UserError(f"slices in {folder} differ in shape: {sorted(shapes)}", "export all slices at one size")
    return np.stack(slices)


def _pick_subvolume(data: np.ndarray, subvolume: int | None, location: str) -> np.ndarray:
    if data.ndim == 4:
        if subvolume is None:
            raise UserError(
                f"{location} is a 4D stack of {data.shape[0]} sub-volumes",
                "choose one with --subvolume INDEX",
            )
        if not 0 <= subvolume < data.shape[0]:
            raise UserError(f"--subvolume {subvolume} is out of range 0..{data.shape[0] - 1}", "pick an existing index")
        return data[subvolume]
    if subvolume is not None:
        raise UserError(f"--subvolume given but {location} is {data.ndim}D", "drop --subvolume")
    if data.ndim != 3:
        raise UserError(
            f"{location} is {data.ndim}D with shape {data.shape}; a 3D (z,y,x) volume is required",
            "pass a 3D stack (a single 2D image is not a volume)",
        )
    return data
