"""One block of a bc_connected decode: the core's dilated components, and what stitching needs.

The block labels the rule mask's 26-connected components (*pieces*) over its outer box, whose halo
covers the dilation's reach. A core voxel whose dilation footprint meets one piece is staged with
that piece's id; one that meets several (where the larger global id wins, which only stitching
knows) is staged with the id of that set of candidates. Pieces of neighbouring blocks are joined
where they label the same voxels of the slab either side of a face; a component's global order is
the raster index of its first voxel (:mod:`em2exm.decode.ccmerge`).
"""

from __future__ import annotations

import cc3d
import numpy as np
from numba import njit

from em2exm.decode.blocks import BlockPlan
from em2exm.decode.dilate import run_end
from em2exm.decode.faces import face_name, shared_faces, slab, within
from em2exm.decode.masks import rule_mask
from em2exm.decode.pieces import NONE
from em2exm.decode.specs import Connected


@njit(cache=True, nogil=True)
def _reach(pieces: np.ndarray, lo: np.ndarray, hi: np.ndarray, radius: np.ndarray, top: np.ndarray,
           several: np.ndarray, first: np.ndarray, origin: np.ndarray, shape: np.ndarray) -> int:
    """Over the core box [lo, hi) of ``pieces`` (at global ``origin`` in a volume of ``shape``): into the
    zeroed ``top``, the largest piece id within ``radius`` of each voxel (0 where none); into the zeroed
    ``several``, where another piece is within reach too (returns how many voxels); into ``first``
    (``NONE``-filled), each piece's first core voxel as a global raster index. Scattered from runs of one
    piece along x (their footprints' union is one box); visited in raster order, so a piece's first run
    that meets the core holds its first core voxel."""
    contested = 0
    nz, ny, nx = pieces.shape
    for z in range(max(lo[0] - radius[0], 0), min(hi[0] + radius[0], nz)):
        in_core = lo[0] <= z < hi[0]
        for y in range(max(lo[1] - radius[1], 0), min(hi[1] + radius[1], ny)):
            row_in_core = in_core and lo[1] <= y < hi[1]
            x, stop = max(lo[2] - radius[2], 0), min(hi[2] + radius[2], nx)
            while x < stop:
                p = pieces[z, y, x]
                end = min(run_end(pieces[z, y], x), stop)
                if p != 0:
                    if row_in_core and first[p] == NONE and x < hi[2] and end > lo[2]:
                        first[p] = ((origin[0] + z - lo[0]) * shape[1] + origin[1] + y - lo[1]) * shape[2] \
                            + origin[2] + max(x, lo[2]) - lo[2]
                    for z2 in range(max(z - radius[0], lo[0]) - lo[0], min(z + radius[0] + 1, hi[0]) - lo[0]):
                        for y2 in range(max(y - radius[1], lo[1]) - lo[1], min(y + radius[1] + 1, hi[1]) - lo[1]):
                            for x2 in range(max(x - radius[2], lo[2]) - lo[2], min(end + radius[2], hi[2]) - lo[2]):
                                there = top[z2, y2, x2]
                                if there != p:
                                    if there != 0 and not several[z2, y2, x2]:
                                        several[z2, y2, x2] = True
                                        contested += 1
                                    if there < p:
                                        top[z2, y2, x2] = p
                x = end
    return contested


@njit(cache=True, nogil=True)
def _tally(top: np.ndarray, several: np.ndarray, n: int, contested: int) -> tuple[np.ndarray, np.ndarray]:
    """Voxels of each id 0..n in ``top`` but for the ``contested`` voxels marked in ``several``, and the
    coordinates of those (raster order)."""
    counts = np.zeros(n + 1, np.int64)
    where = np.empty((contested, 3), np.int64)
    found = 0
    nz, ny, nx = top.shape
    for z in range(nz):
        for y in range(ny):
            for x in range(nx):
                if several[z, y, x]:
                    where[found, 0], where[found, 1], where[found, 2] = z, y, x
                    found += 1
                else:
                    counts[top[z, y, x]] += 1
    return counts, where


@njit(cache=True, nogil=True)
def _distinct(pieces: np.ndarray, z: int, y: int, x: int, radius: np.ndarray, found: np.ndarray) -> int:
    """Distinct piece ids within ``radius`` of (z, y, x), ascending, into ``found``; returns how many."""
    nz, ny, nx = pieces.shape
    count = 0
    for z2 in range(max(z - radius[0], 0), min(z + radius[0] + 1, nz)):
        for y2 in range(max(y - radius[1], 0), min(y + radius[1] + 1, ny)):
            for x2 in range(max(x - radius[2], 0), min(x + radius[2] + 1, nx)):
                p = pieces[z2, y2, x2]
                if p == 0:
                    continue
                at = count
                for q in range(count):
                    if found[q] >= p:
                        at = q
                        break
                if at < count and found[at] == p:
                    continue
                for q in range(count, at, -1):
                    found[q] = found[q - 1]
                found[at] = p
                count += 1
    return count


@njit(cache=True, nogil=True)
def _candidates(pieces: np.ndarray, where: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """For each voxel ``where[i]`` (coordinates in ``pieces``): the distinct piece ids within
    ``radius``, ascending, padded with 0 to the largest count."""
    found = np.zeros((2 * radius[0] + 1) * (2 * radius[1] + 1) * (2 * radius[2] + 1), np.int64)
    width = 0
    for i in range(where.shape[0]):
        width = max(width, _distinct(pieces, where[i, 0], where[i, 1], where[i, 2], radius, found))
    out = np.zeros((where.shape[0], width), np.int64)
    for i in range(where.shape[0]):
        count = _distinct(pieces, where[i, 0], where[i, 1], where[i, 2], radius, found)
        out[i, :count] = found[:count]
    return out


def _distinct_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of ``rows`` in lexicographic order, and where each row is among them (``np.unique``'s
    ``axis=0, return_inverse=True``, without its structured-view set-up: a few hundred rows per block)."""
    order = np.lexsort(rows.T[::-1])
    ordered = rows[order]
    new = np.ones(len(rows), bool)
    new[1:] = (ordered[1:] != ordered[:-1]).any(axis=1)
    which = np.empty(len(rows), np.int64)
    which[order] = np.cumsum(new) - 1
    return ordered[new], which


def connected_block(block: np.ndarray, plan: BlockPlan, block_id: int,
                    spec: Connected) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Staged ids of the block's core (pieces 1..n, then candidate sets n+1..) from its maps over the
    outer box, and the block's stitching arrays (see the module docstring)."""
    outer, core = plan.outer(block_id), plan.core(block_id)
    maps = spec.maps(block)
    fg = np.zeros(maps.shape[1:], bool)
    rule_mask(maps, spec.table, fg)
    pieces, n = cc3d.connected_components(fg, connectivity=26, return_N=True)
    del fg
    rel = within(core, outer)
    radius = np.array([s // 2 for s in spec.dilation])
    lo, hi = np.array([s.start for s in rel]), np.array([s.stop for s in rel])
    staged = np.zeros(tuple(hi - lo), np.uint32 if plan.id_stride < 2**32 else np.uint64)
    several = np.zeros(staged.shape, np.bool_)
    first = np.full(n + 1, NONE, np.int64)
    contested = _reach(pieces, lo, hi, radius, staged, several, first, np.array([c.start for c in core]),
                       np.array(plan.shape))
    counts, where = _tally(staged, several, n, contested)
    del several
    sets, which = np.zeros((0, 0), np.int64), np.zeros(0, np.int64)
    if len(where):
        sets, which = _distinct_rows(_candidates(pieces, where + lo, radius))
        staged[tuple(where.T)] = n + 1 + which
    arrays = {"counts": np.concatenate([counts, np.bincount(which, minlength=len(sets))]), "n_pieces": np.array(n),
              "piece_first": first, "sets": sets}
    for axis, side in shared_faces(plan, block_id):
        arrays["pieces" + face_name(axis, side)] = pieces[within(slab(plan, block_id, axis, side, plan.halo[axis]),
                                                                 outer)]
    return staged, arrays
