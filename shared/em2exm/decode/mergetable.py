"""Final ids 1..N, in the whole-volume decode's order: their numbering, and a block's labels from its table.

A block's voxels take the final id of their block-local id (``tables[block][local]``); a watershed
decode also settles some voxels one by one (``voxels[block]``: core-local flat indices and their ids).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numba import njit

from em2exm.decode.relabel import label_dtype


@njit(cache=True, nogil=True)
def _lookup(local: np.ndarray, table: np.ndarray, out: np.ndarray) -> None:
    """``out = table[local]`` (3-D), without numpy's conversion of the ids to intp."""
    nz, ny, nx = local.shape
    for z in range(nz):
        for y in range(ny):
            for x in range(nx):
                out[z, y, x] = table[local[z, y, x]]


@dataclass
class MergeTable:
    """Per block: final id of each block-local id (``[0]``: background), and per-voxel final ids."""

    count: int
    tables: dict[int, np.ndarray]
    voxels: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def block(self, block_id: int, local: np.ndarray) -> np.ndarray:
        """Final labels of block ``block_id``'s core from its block-local ids."""
        table = self.tables[block_id]
        out = np.empty(local.shape, table.dtype)
        _lookup(local, table, out)
        if block_id in self.voxels:
            where, ids = self.voxels[block_id]
            out.reshape(-1)[where] = ids
        return out


def numbering(size: np.ndarray, first: np.ndarray, smallest: int) -> np.ndarray:
    """Final id of each instance ``i`` at ``[i + 1]`` (``[0]``: background, for instance -1): instances
    of at least ``smallest`` voxels numbered 1..N in order of ``first`` (the global raster index of
    the first voxel of the seed or component they grew from), the rest 0."""
    kept = np.flatnonzero(size >= max(smallest, 1))
    kept = kept[np.argsort(first[kept], kind="stable")]
    final = np.zeros(size.size + 1, np.int64)
    final[kept + 1] = np.arange(1, kept.size + 1)
    return final.astype(label_dtype(kept.size))
