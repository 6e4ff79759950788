"""Remove small instances, renumber ids 1..N and write a crop into a full-size label volume."""

from __future__ import annotations

import numpy as np
from numba import njit

from em2exm.tiling import Box


def label_dtype(n: int) -> np.dtype:
    """Smallest unsigned integer dtype that holds ids up to ``n``."""
    for dtype in (np.uint8, np.uint16, np.uint32):
        if n <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    return np.dtype(np.uint64)


def keep_table(counts: np.ndarray, smallest: int) -> np.ndarray:
    """Lookup table old id -> new id: ids with fewer than ``smallest`` voxels (and empty ones) become 0,
    the rest 1..N in id order (PyTC's ``remove_small_objects``, then consecutive ids)."""
    keep = counts >= max(smallest, 1)
    keep[0] = False
    n = int(keep.sum())
    table = np.zeros(counts.size, label_dtype(n))
    table[keep] = np.arange(1, n + 1, dtype=table.dtype)
    return table


@njit(cache=True, nogil=True)
def _write(labels: np.ndarray, table: np.ndarray, out: np.ndarray, pad: int, z0: int, y0: int, x0: int) -> None:
    nz, ny, nx = labels.shape[0] - 2 * pad, labels.shape[1] - 2 * pad, labels.shape[2] - 2 * pad
    for z in range(nz):
        for y in range(ny):
            for x in range(nx):
                label = labels[z + pad, y + pad, x + pad]
                if label != 0:
                    out[z0 + z, y0 + y, x0 + x] = table[label]


def write_crop(labels: np.ndarray, table: np.ndarray, shape: tuple[int, ...], box: Box, pad: int) -> np.ndarray:
    """A zero volume of ``shape`` with ``table[labels]`` (``labels`` less ``pad``) written at ``box``."""
    out = np.zeros(shape, table.dtype)
    _write(labels, table, out, pad, box[0].start, box[1].start, box[2].start)
    return out


@njit(cache=True, nogil=True)
def _apply(labels: np.ndarray, table: np.ndarray) -> None:
    nz, ny, nx = labels.shape
    for z in range(nz):
        for y in range(ny):
            for x in range(nx):
                labels[z, y, x] = table[labels[z, y, x]]


def relabel_inplace(labels: np.ndarray, table: np.ndarray) -> None:
    """``labels[...] = table[labels]`` in place (skipped when ``table`` is the identity)."""
    if not np.array_equal(table, np.arange(table.size)):
        _apply(labels, table)
