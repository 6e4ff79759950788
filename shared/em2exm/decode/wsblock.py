"""One block of a seeded-watershed decode: the voxels its own seeds settle, and the rest for stitching.

The whole-volume watershed gives a voxel the label of its neighbour with the smallest *level* (the
smallest largest priority ``255 - foreground`` of a path from a seed), ties going by scikit-image's
heap order. A path into a block enters through a voxel of its faces, so the block floods its core
from its seeds and from every foreground voxel of a face shared with a neighbour (*face markers*,
started at their own priority: a lower bound of their level), seeds first on equal keys
(:func:`em2exm.decode.buckets.bucket_flood`). A voxel a seed reaches first (a *seed fragment*) is
settled: its flood value is its level and its label that seed's, whatever lies outside the block
(proof in ARCHITECTURE.md, "Blockwise decode"). The other voxels (*open* voxels: face markers'
fragments) are flooded again across blocks when stitching (:mod:`em2exm.decode.relax`), from the
settled voxels next to them; the block exports them with those neighbours and its shared faces
(the *border*).

Seeds are 26-connected components of the seed map, sized over the whole volume. Labelled over the
core and a one-voxel halo, a seed piece is *kept* when its core part alone reaches ``seed_min``;
a piece that does not, but continues past the core, is *uncertain*: each of its voxels is a marker
of its own, a seed (settled) or not (open) as the stitched size decides. Pieces of neighbouring
blocks are joined where they label the same voxels of the slab either side of a face.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from em2exm.decode.blocks import BlockPlan
from em2exm.decode.buckets import bucket_flood
from em2exm.decode.faces import face_name, shared_faces, slab, within
from em2exm.decode.masks import classify
from em2exm.decode.pieces import piece_stats
from em2exm.decode.seeds import label_seeds
from em2exm.decode.specs import Watershed
from em2exm.decode.watershed import offsets
from em2exm.tiling import triple


@njit(cache=True, nogil=True)
def _mark(seeds: np.ndarray, fg: np.ndarray, piece_marker: np.ndarray, n_kept: int, faces: np.ndarray,
          markers: np.ndarray) -> np.ndarray:
    """Markers over the padded core ``markers`` for foreground voxels (``fg`` > 0): a kept piece's
    marker id, or a marker of its own (ids from ``n_kept + 1`` in raster order) for voxels of uncertain pieces
    (``piece_marker`` < 0) and on shared faces (``faces``: z-, z+, y-, y+, x-, x+). Returns the seed piece of
    each marker of its own: the uncertain piece it belongs to, else 0."""
    nz, ny, nx = seeds.shape
    pieces = np.empty(1024, np.int64)
    found = 0
    for z in range(nz):
        for y in range(ny):
            for x in range(nx):
                if fg[z + 1, y + 1, x + 1] == 0:
                    continue
                piece = seeds[z, y, x]
                m = piece_marker[piece]
                if m > 0:
                    markers[z + 1, y + 1, x + 1] = m
                elif m < 0 or (z == 0 and faces[0]) or (z == nz - 1 and faces[1]) or (y == 0 and faces[2]) or (
                        y == ny - 1 and faces[3]) or (x == 0 and faces[4]) or (x == nx - 1 and faces[5]):
                    if found == pieces.size:
                        grown = np.empty(2 * pieces.size, np.int64)
                        grown[:found] = pieces
                        pieces = grown
                    pieces[found] = piece if m < 0 else 0
                    found += 1
                    markers[z + 1, y + 1, x + 1] = n_kept + found
    return pieces[:found].copy()


@njit(cache=True, nogil=True)
def _mark_layer(near: np.ndarray, axis: int, layer: int, on_face: bool) -> None:
    """Set layer ``layer`` of ``near`` along ``axis`` where ``on_face``."""
    if not on_face:
        return
    if axis == 0:
        near[layer, :, :] = True
    elif axis == 1:
        near[:, layer, :] = True
    else:
        near[:, :, layer] = True


@njit(cache=True, nogil=True)
def _border(labels: np.ndarray, n_kept: int, faces: np.ndarray) -> np.ndarray:
    """Core-local flat indices (C order) of labelled voxels of the padded ``labels`` that are open
    (label > ``n_kept``), next to an open voxel, or on a shared face."""
    nz, ny, nx = labels.shape[0] - 2, labels.shape[1] - 2, labels.shape[2] - 2
    near = np.zeros(labels.shape, np.bool_)  # open voxels, their neighbours and the shared faces' layers
    for z in range(1, nz + 1):
        for y in range(1, ny + 1):
            for x in range(1, nx + 1):
                if labels[z, y, x] > n_kept:
                    near[z, y, x] = near[z - 1, y, x] = near[z + 1, y, x] = True
                    near[z, y - 1, x] = near[z, y + 1, x] = near[z, y, x - 1] = near[z, y, x + 1] = True
    for first, last, axis in ((faces[0], faces[1], 0), (faces[2], faces[3], 1), (faces[4], faces[5], 2)):
        _mark_layer(near, axis, 1, first)
        _mark_layer(near, axis, labels.shape[axis] - 2, last)
    found = 0
    for z in range(1, nz + 1):
        for y in range(1, ny + 1):
            for x in range(1, nx + 1):
                found += near[z, y, x] and labels[z, y, x] != 0
    out = np.empty(found, np.int64)  # counted first: a buffer grown inside the loop below makes it 5x slower
    found = 0
    for z in range(1, nz + 1):
        for y in range(1, ny + 1):
            for x in range(1, nx + 1):
                if near[z, y, x] and labels[z, y, x] != 0:
                    out[found] = ((z - 1) * ny + y - 1) * nx + x - 1
                    found += 1
    return out


def _allow(level: np.ndarray, inner: tuple[slice, slice, slice], faces: list[tuple[int, str]]) -> np.ndarray:
    """Per voxel of the padded core, on its shared faces: 1 + the lowest priority (``255 - foreground``) of its
    foreground neighbours across them (255: none); see :func:`em2exm.decode.buckets.bucket_flood`."""
    allow = np.zeros(tuple(s.stop - s.start + 2 for s in inner), np.uint8)
    core = allow[1:-1, 1:-1, 1:-1]
    for axis, side in faces:
        beyond = list(inner)
        beyond[axis] = slice(inner[axis].start - 1, inner[axis].start) if side == "-" else slice(inner[axis].stop,
                                                                                             inner[axis].stop + 1)
        layer = [slice(None)] * 3
        layer[axis] = slice(0, 1) if side == "-" else slice(-1, None)
        bound = np.minimum(256 - level[tuple(beyond)].astype(np.int16), 255).astype(np.uint8)
        here = core[tuple(layer)]
        core[tuple(layer)] = np.where(here == 0, bound, np.minimum(here, bound))
    return allow.reshape(-1)


def watershed_block(block: np.ndarray, plan: BlockPlan, block_id: int,
                    spec: Watershed) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Marker ids (1..n; kept pieces first) of the block's core from its maps over the outer box, and
    the block's stitching arrays (see the module docstring)."""
    outer, core = plan.outer(block_id), plan.core(block_id)
    maps = spec.maps(block)
    padded = tuple(s + 2 for s in maps.shape[1:])
    level = np.zeros(padded, np.uint8)
    seed_map = np.zeros(padded, bool)
    classify(maps, spec.rules.fg, spec.rules.seed, level, seed_map)
    seeds, n = label_seeds(seed_map)
    del seed_map
    inner = triple(slice(r.start + 1, r.stop + 1) for r in within(core, outer))
    count, first, outside = piece_stats(seeds, n, inner, tuple(o.start - 1 for o in outer), plan.shape)
    kept = count >= spec.seed_min
    uncertain = ~kept & outside & (count > 0)
    kept[0] = uncertain[0] = False
    kept_ids = np.flatnonzero(kept)
    piece_marker = np.zeros(n + 1, np.int64)
    piece_marker[kept_ids] = np.arange(1, kept_ids.size + 1)
    piece_marker[uncertain] = -1

    faces = shared_faces(plan, block_id)
    on_faces = np.array([(axis, side) in faces for axis in range(3) for side in "-+"])
    fg = np.zeros(tuple(s.stop - s.start + 2 for s in inner), np.uint8)
    fg[1:-1, 1:-1, 1:-1] = level[inner]
    labels = np.zeros(fg.shape, np.uint32)  # the markers, then the flood's labels
    core_seeds = seeds[inner]
    marker_piece = np.concatenate(([0], kept_ids, _mark(core_seeds, fg, piece_marker, kept_ids.size, on_faces,
                                                        labels)))

    arrays: dict[str, np.ndarray] = {}
    for axis, side in faces:
        arrays["seeds" + face_name(axis, side)] = seeds[tuple(
            slice(s.start + 1, s.stop + 1) for s in within(slab(plan, block_id, axis, side, 1), outer))]
    values = np.zeros(fg.shape, np.uint8)
    counts = bucket_flood(fg.reshape(-1), labels.reshape(-1), (marker_piece == 0).astype(np.int64),
                          offsets(fg.shape), values.reshape(-1), _allow(level, inner, faces))
    del fg
    border = _border(labels, kept_ids.size, on_faces)
    at = np.unravel_index(border, core_seeds.shape)
    padded_at = tuple(c + 1 for c in at)
    pieces = np.flatnonzero(kept | uncertain)
    arrays.update(
        counts=counts, marker_piece=marker_piece, piece_ids=pieces, piece_count=count[pieces],
        piece_first=first[pieces], border_index=border, border_marker=labels[padded_at],
        border_level=level[inner][at], border_value=values[padded_at])
    return labels[1:-1, 1:-1, 1:-1], arrays
