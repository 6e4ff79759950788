"""build-dataset: pair an image volume (e.g. CCGAN-transferred EM) with instance labels, split train/val.

Writes ``<output>/train.zarr`` and ``<output>/val.zarr`` (OME-Zarr image + ``labels/groundtruth``), or with
``--format h5`` PyTC-compatible ``{train,val}_{im,label}.h5`` (dataset ``main``).  Targets (B, C, D) are not
stored: seg-train computes them on the fly from the labels after augmentation, which keeps contours and
distances exact under flips/rotations and lets one dataset serve BC and BCD training.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from em2exm import ome, outputs, storage
from em2exm.errors import UserError
from em2exm.invocation import Invocation
from em2exm.specs.build_dataset import BuildDatasetParams

log = logging.getLogger("em2exm.build_dataset")
LABELS_NAME = "groundtruth"
PRODUCTS = ("train.zarr", "val.zarr", "train_im.h5", "train_label.h5", "val_im.h5", "val_label.h5")


def split(shape: Sequence[int], axis: str, val_fraction: float) -> dict[str, tuple[slice, ...]]:
    """Train and validation regions: the last ``val_fraction`` of ``axis`` is validation."""
    if not 0 < val_fraction < 1:
        raise UserError(f"val_fraction {val_fraction} must be in (0, 1)", "use e.g. 0.2")
    dim = "zyx".index(axis)
    cut = int(round(shape[dim] * (1 - val_fraction)))
    if not 0 < cut < shape[dim]:
        raise UserError(f"axis {axis} of size {shape[dim]} is too small to split", "split along a longer axis")
    train = [slice(None)] * 3
    val = [slice(None)] * 3
    train[dim], val[dim] = slice(0, cut), slice(cut, shape[dim])
    return {"train": tuple(train), "val": tuple(val)}


def _write_zarr(url: str, image: np.ndarray, labels: np.ndarray, voxel: tuple[float, float, float], provenance: dict) -> None:
    ome.create_image(url, image.shape, np.uint8, voxel, provenance=provenance)[:] = image
    ome.create_labels(url, LABELS_NAME, labels.dtype, provenance=provenance)[:] = labels


def _write_h5(url: str, name: str, data: np.ndarray) -> None:
    import io

    import h5py

    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as handle:
        handle.create_dataset("main", data=data, compression="gzip")
    storage.write_bytes(storage.join(url, name), buffer.getvalue())


def run(params: BuildDatasetParams, how: Invocation = Invocation()) -> None:
    """Write the dataset; a no-op when it is already complete."""
    image = ome.open_image(params.image)
    labels = ome.open_image(params.labels)
    if image.spatial_shape != labels.spatial_shape:
        raise UserError(
            f"image {image.spatial_shape} and labels {labels.spatial_shape} differ in shape",
            "pass labels of the same volume (e.g. the labels carried over by ccgan-transfer)",
        )
    if image.array.dtype != np.uint8:
        raise UserError(f"image dtype {image.array.dtype} is not uint8", "pass a volume written by ingest or ccgan-transfer")
    regions = split(image.spatial_shape, params.split_axis, params.val_fraction)
    inputs = {"image": params.image, "labels": params.labels}
    with outputs.claim(params.output, stage="build-dataset", options=params, inputs=inputs, products=PRODUCTS,
                       redo=how.redo) as output:
        if output.complete:
            return
        write_parts(params, image, labels, regions)
        output.commit({"stage": "build-dataset", "format": params.format})


def write_parts(params: BuildDatasetParams, image: ome.Volume, labels: ome.Volume,
                regions: dict[str, tuple[slice, ...]]) -> None:
    """Write the train and validation parts in the chosen format."""
    provenance = {"stage": "build-dataset", "inputs": {"image": params.image, "labels": params.labels}}
    for part, region in regions.items():
        data, ids = np.asarray(image.array[region]), np.asarray(labels.array[region])
        if params.format == "h5":
            _write_h5(params.output, f"{part}_im.h5", data)
            _write_h5(params.output, f"{part}_label.h5", ids)
        else:
            _write_zarr(storage.join(params.output, f"{part}.zarr"), data, ids, image.voxel_size, provenance)
        log.info("%s: %s, %d instances", part, data.shape, len(np.unique(ids)) - (0 in ids))
