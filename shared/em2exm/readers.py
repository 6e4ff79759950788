"""Read raw volumes from tiff (incl. 4D stacks of sub-volumes), h5 (``file.h5:/dataset``), zarr /
OME-Zarr, and folders of 2D tiff/png slices, into numpy with one clear error per kind of bad input."""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from em2exm import storage
from em2exm.errors import UserError
from em2exm.tiling import triple

SLICE_SUFFIXES = (".tif", ".tiff", ".png")
H5_SUFFIXES = (".h5", ".hdf5", ".hdf")
CHANNEL_AXES = "SCc"  # tifffile's samples (RGB) and channel axes, OME-Zarr's channel axis
COLOURS = (3, 4)  # RGB, RGBA
MIN_PICTURE_SIDE = 16  # a 3-D array (Y, X, 3|4) with both sides at least this is taken for a colour picture
LABEL_SAMPLE = 64  # side of the central block that tells instance labels from an image
MIN_LABEL_SAMPLE = 1000  # fewer voxels tell nothing


@dataclass
class RawVolume:
    """A volume read from disk, with the voxel size its file declared (if any)."""

    data: np.ndarray
    voxel_size: tuple[float, float, float] | None = None
    axes: str | None = None
    """The axis letters the file declares (tifffile's series axes, OME-Zarr axes); None when it declares none."""


def read_volume(location: str, subvolume: int | None = None, channel: int | None = None) -> RawVolume:
    """Read ``location`` as a 3D (z,y,x) array; ``subvolume`` picks one volume of a 4D stack, ``channel`` one
    channel of a multi-channel (e.g. RGB) one."""
    path, dataset = _split_h5(location)
    if storage.protocol_of(path) == "file" and not os.path.exists(path):
        raise UserError(f"input {path} does not exist", "check the path (h5 datasets are written file.h5:/dataset)")
    lower = path.lower().rstrip("/")
    try:
        if lower.endswith(H5_SUFFIXES):
            volume = _read_h5(path, dataset)
        elif lower.endswith((".tif", ".tiff")):
            volume = _read_tiff(path)
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
    data = _pick_subvolume(_pick_channel(volume, channel, location), subvolume, location)
    return RawVolume(data, volume.voxel_size)


def _split_h5(location: str) -> tuple[str, str | None]:
    for suffix in H5_SUFFIXES:
        marker = suffix + ":"
        if marker in location.lower():
            cut = location.lower().index(marker) + len(suffix)
            return location[:cut], location[cut + 1 :] or None
    return location, None


def available_memory() -> int:
    """Bytes this process may still allocate: MemAvailable (Linux) or the physical memory, within a cgroup limit."""
    try:
        meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
        free = int(meminfo["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        free = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    cgroup = Path("/sys/fs/cgroup")
    try:
        limit = int((cgroup / "memory.max").read_text()) - int((cgroup / "memory.current").read_text())
    except (OSError, ValueError):  # no cgroup v2 limit (or "max")
        return free
    return min(free, limit)


def check_fits(shape: tuple[int, ...], dtype: Any, location: str) -> None:
    """Raise before reading when a ``shape`` array of ``dtype`` cannot fit in the memory left."""
    need, have = math.prod(int(n) for n in shape) * np.dtype(dtype).itemsize, available_memory()
    if need > have:
        raise UserError(
            f"{location} holds {shape} {np.dtype(dtype)} voxels ({need / 2**30:.1f} GiB), more than the "
            f"{have / 2**30:.1f} GiB of memory available",
            "crop the volume before ingest, or run ingest on a machine with more memory",
        )


def _read_tiff(path: str) -> RawVolume:
    import tifffile

    logging.getLogger("tifffile").setLevel(logging.CRITICAL)
    with tifffile.TiffFile(path) as tif:
        if len(tif.pages) == 0:
            raise ValueError("no readable TIFF pages")
        series = tif.series[0]
        check_fits(series.shape, series.dtype, path)
        data = np.asarray(tif.asarray())
    if data.size == 0:
        raise ValueError("no image data")
    return RawVolume(data, axes=series.axes if len(series.axes) == data.ndim else None)


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
        check_fits(node.shape, node.dtype, f"{path}:/{dataset}")
        data = np.asarray(node[...])
        spacing = node.attrs.get("resolution", node.attrs.get("element_size_um"))
    voxel = triple(float(v) for v in spacing) if spacing is not None and len(spacing) == 3 else None
    return RawVolume(data, voxel)


def _read_zarr(url: str) -> RawVolume:
    import zarr

    from em2exm import ome

    node = zarr.open(storage.zarr_store(url, read_only=True), mode="r")
    if isinstance(node, zarr.Array):
        check_fits(node.shape, node.dtype, url)
        return RawVolume(np.asarray(node[...]))
    if "ome" in node.attrs or "multiscales" in node.attrs:
        volume = ome.open_image(url)
        check_fits(volume.shape, volume.array.dtype, url)
        return RawVolume(np.asarray(volume.array[...]), volume.voxel_size, "".join(volume.axes))
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


def _channel_axis(volume: RawVolume, channel: int | None) -> int | None:
    """The axis of colour samples or channels: as the file declares, else a (Y, X, 3|4) picture's last axis,
    else the first axis of a 4D array when a channel is asked for."""
    shape, axes = volume.data.shape, volume.axes or ""
    declared = [i for i, name in enumerate(axes) if name in CHANNEL_AXES]
    if declared:
        return declared[0]
    if not axes and len(shape) == 3 and shape[2] in COLOURS and min(shape[:2]) >= MIN_PICTURE_SIDE:
        return 2
    return 0 if len(shape) == 4 and channel is not None else None


def _pick_channel(volume: RawVolume, channel: int | None, location: str) -> np.ndarray:
    """One channel of a multi-channel array (the array itself when it has none)."""
    data, axis = volume.data, _channel_axis(volume, channel)
    if axis is None:
        if channel is not None:
            raise UserError(f"--channel {channel} given but {location} of shape {data.shape} has no channel axis",
                            "drop --channel")
        return data
    count = data.shape[axis]
    if data.ndim < 4:
        raise UserError(f"{location} is a 2D image with {count} colour channels (shape {data.shape}), not a 3D volume",
                        "pass a 3D (z,y,x) stack; of a multi-channel stack pick one channel with --channel N")
    if channel is None:
        raise UserError(f"{location} has {count} channels (axis {axis} of shape {data.shape})",
                        f"pick one with --channel 0..{count - 1}")
    if not 0 <= channel < count:
        raise UserError(f"--channel {channel} is out of range 0..{count - 1}", "pick an existing channel")
    return data[(slice(None),) * axis + (channel,)]


def _pick_subvolume(data: np.ndarray, subvolume: int | None, location: str) -> np.ndarray:
    if data.ndim == 4:
        if subvolume is None:
            raise UserError(
                f"{location} is a 4D stack of {data.shape[0]} sub-volumes",
                "choose one with --subvolume INDEX (or --channel INDEX when the first axis holds channels)",
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


def check_label_ids(labels: Any, where: str) -> None:
    """Raise when ``labels`` (a z,y,x array-like) look like an image rather than instance ids: more than half the
    voxels of a central block of up to ``LABEL_SAMPLE`` per side have a value of their own."""
    starts = [max(0, (n - LABEL_SAMPLE) // 2) for n in labels.shape]
    sample = np.asarray(labels[tuple(slice(s, s + LABEL_SAMPLE) for s in starts)])
    if sample.size < MIN_LABEL_SAMPLE:
        return
    unique = np.unique(sample).size / sample.size
    if unique > 0.5:
        raise UserError(
            f"{where} looks like an image, not instance labels: {unique:.0%} of the voxels of a {sample.shape} sample"
            " have a value of their own",
            "pass the instance labels (one integer id per object, 0 for background)",
        )


def source_path(location: str) -> str:
    """The file or folder behind an input location (``file.h5:/dataset`` -> ``file.h5``)."""
    return _split_h5(location)[0]
