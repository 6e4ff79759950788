"""ingest: raw EM/ExM volumes (tiff, h5, zarr, slice folders) -> normalised OME-Zarr at a common voxel size.

The target voxel size defaults to ``voxel_size / expansion_factor``: an ExM volume keeps its voxels and
is described in pre-expansion nanometres; an EM volume is resampled to the ExM grid with
``--target-voxel-size``.
"""

from __future__ import annotations

import logging

import numpy as np

from em2exm import intensity, ome, outputs, readers
from em2exm.config import Nanometres, positive_sizes
from em2exm.errors import UserError
from em2exm.invocation import Invocation
from em2exm.progress import progress
from em2exm.specs.ingest import IngestParams
from em2exm.tiling import triple

log = logging.getLogger("em2exm.ingest")
MIN_SIDE = 2  # voxels per axis: anything thinner is a plane or a line, not a volume


def load_inputs(params: IngestParams) -> tuple[np.ndarray, np.ndarray | None, tuple[float, float, float]]:
    """Read and check image and labels; every check runs before anything is written."""
    image = readers.read_volume(params.image, params.subvolume, params.channel)
    voxel = _voxel_size(params, image.voxel_size)
    if image.data.dtype.kind not in "uif":
        raise UserError(f"image dtype {image.data.dtype} is not numeric", "export the image as uint8/uint16/float")
    data = _finite(image.data, params.nan_policy, params.image)
    labels = None
    if params.labels:
        labels = readers.read_volume(params.labels, params.subvolume).data
        if labels.shape != data.shape:
            raise UserError(
                f"labels shape {labels.shape} does not match image shape {data.shape}",
                "pass labels of the same volume (same z,y,x size)",
            )
        labels = _integer_labels(labels, params.labels)
        readers.check_label_ids(labels, f"the labels file {params.labels}")
    physical = triple(float(v) / params.expansion_factor for v in voxel)
    data, labels = _crop(data, labels, params)
    _check_size(data.shape, intensity.zoom_factors(physical, params.target_voxel_size or physical))
    return data, labels, physical


def _voxel_size(params: IngestParams, declared: Nanometres | None) -> Nanometres:
    """The voxel size given, else the one the image file declares (checked like a given one)."""
    voxel = params.voxel_size or declared
    if voxel is None:
        raise UserError(f"no voxel size for {params.image}", "pass --voxel-size Z Y X in nanometres")
    try:
        return positive_sizes(voxel)
    except ValueError as exc:
        raise UserError(f"{params.image} declares a bad voxel size: {exc}", "pass --voxel-size Z Y X in nanometres") from exc


def _finite(data: np.ndarray, policy: str, where: str) -> np.ndarray:
    """``data`` without NaN/inf voxels: an error naming them, or them replaced as ``policy`` says."""
    if data.dtype.kind != "f":
        return data
    bad = ~np.isfinite(data)
    count = int(bad.sum())
    if count == 0:
        return data
    if count == data.size:
        raise UserError(f"{where} has only NaN/inf voxels ({count})", "re-export the image")
    if policy == "error":
        first = tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), data.shape))
        planes = np.flatnonzero(bad.any(axis=(1, 2)))
        raise UserError(
            f"{where} has {count} NaN/inf voxels, the first at (z, y, x) {first}, in z {planes[0]}..{planes[-1]}",
            "re-export the image without them, or set ingest.nan_policy=fill-min or fill-median to replace them",
        )
    return intensity.fill_non_finite(data, bad, "min" if policy == "fill-min" else "median")


def _check_size(shape: tuple[int, ...], factors: tuple[float, float, float]) -> None:
    """At least ``MIN_SIDE`` voxels per axis, before and after resampling."""
    for what, size in (("image", shape), ("resampled image", intensity.resampled_shape(shape, factors))):
        if min(size) < MIN_SIDE:
            raise UserError(f"the {what} has shape {tuple(size)}; ingest needs at least {MIN_SIDE} voxels per axis",
                            "pass a larger volume (or resample to a finer --target-voxel-size)")


def _integer_labels(labels: np.ndarray, where: str) -> np.ndarray:
    if labels.dtype.kind == "f":
        if not np.all(np.mod(labels, 1) == 0) or labels.min() < 0:
            raise UserError(f"labels in {where} are not non-negative integers", "store instance ids as integers")
        labels = labels.astype(np.uint64)
    elif labels.dtype.kind not in "ui":
        raise UserError(f"labels dtype {labels.dtype} in {where} is not an integer type", "store instance ids as integers")
    elif labels.dtype.kind == "i" and labels.min() < 0:
        raise UserError(f"labels in {where} have negative ids", "use 0 for background and positive ids")
    return labels.astype(np.uint32) if labels.max() <= np.iinfo(np.uint32).max else labels.astype(np.uint64)


def _crop(image: np.ndarray, labels: np.ndarray | None, params: IngestParams) -> tuple[np.ndarray, np.ndarray | None]:
    if params.crop is None:
        return image, labels
    region = tuple(slice(lo, hi) for lo, hi in params.crop)
    for (lo, hi), size in zip(params.crop, image.shape):
        if not 0 <= lo < hi <= size:
            raise UserError(f"crop {params.crop} is outside the volume {image.shape}", "crop inside the volume")
    return image[region], (labels[region] if labels is not None else None)


def write_slabs(array, data: np.ndarray, desc: str) -> None:
    """Write ``data`` into a zarr array one chunk-aligned z slab at a time."""
    step = array.chunks[0]
    for z0 in progress(range(0, data.shape[0], step), total=-(-data.shape[0] // step), desc=desc):
        array[z0 : z0 + step] = data[z0 : z0 + step]


def run(params: IngestParams, how: Invocation = Invocation()) -> None:
    """Ingest one volume into ``params.output``; a no-op when it is already complete."""
    image, labels, physical = load_inputs(params)
    target = params.target_voxel_size or physical
    inputs = {"image": readers.source_path(params.image),
              "labels": readers.source_path(params.labels) if params.labels else None}
    with outputs.claim(params.output, stage="ingest", options=params, inputs=inputs, products=ome.image_products(params.labels_name),
                       redo=how.redo) as output:
        if output.complete:
            return
        factors = intensity.zoom_factors(physical, target)
        log.info("ingest %s: shape %s, voxel %s nm -> %s nm", params.image, image.shape, physical, target)
        normalised = intensity.to_uint8(
            intensity.resample(image, factors), params.clip_percentiles, params.histeq, params.invert
        )
        provenance = {
            "stage": "ingest",
            "inputs": {"image": params.image, "labels": params.labels},
            "params": params.model_dump(mode="json"),
        }
        array = ome.create_image(params.output, normalised.shape, np.uint8, target, chunks=params.chunks,
                                 provenance=provenance)
        write_slabs(array, normalised, "image")
        if labels is not None:
            resampled = intensity.resample(labels, factors, labels=True)
            label_array = ome.create_labels(params.output, params.labels_name, resampled.dtype, chunks=params.chunks,
                                            provenance=provenance)
            write_slabs(label_array, resampled, "labels")
        output.commit({"stage": "ingest", "shape": list(normalised.shape), "voxel_size": list(target)})
    log.info("wrote %s %s", params.output, normalised.shape)
