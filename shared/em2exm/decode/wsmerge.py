"""Stitching of a seeded-watershed decode: the whole volume's seeds, then the open voxels.

From every block's arrays (:mod:`em2exm.decode.wsblock`): seed pieces are joined across faces into
the whole volume's seeds, sized, and dropped under ``seed_min``; a block's markers of surviving seeds
settle their fragments; the open voxels of all blocks are then flooded together
(:func:`em2exm.decode.buckets.sparse_flood`) from the settled voxels next to them, entering at their
exact levels; instances under ``small_min`` voxels are removed; final ids follow each seed's first
voxel, as in the whole-volume decode.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from em2exm.decode.blocks import BlockPlan
from em2exm.decode.blockwise import BlockData
from em2exm.decode.buckets import sparse_flood
from em2exm.decode.graph import components
from em2exm.decode.mergetable import MergeTable, final_table, numbering
from em2exm.decode.pieces import NONE
from em2exm.decode.slabs import with_joins
from em2exm.decode.specs import Watershed

_EMPTY = np.zeros(0, np.int64)


class _Blocks:
    """What stitching keeps of each block: markers, their pieces and counts, and the border."""

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.arrays: list[dict[str, np.ndarray]] = []
        self.pieces: list[np.ndarray] = []
        self.piece_count: list[np.ndarray] = []
        self.piece_first: list[np.ndarray] = []
        self.joins: list[tuple[np.ndarray, np.ndarray]] = []

    def add(self, plan: BlockPlan, data: BlockData) -> None:
        offset = data.block_id * plan.id_stride
        self.ids.append(data.block_id)
        self.arrays.append({k: np.asarray(data[k]) for k in ("counts", "marker_piece", "border_index",
                                                               "border_marker", "border_level", "border_value")})
        self.pieces.append(offset + data["piece_ids"].astype(np.int64))
        self.piece_count.append(np.asarray(data["piece_count"]))
        self.piece_first.append(np.asarray(data["piece_first"]))


def _seeds(blocks: _Blocks, seed_min: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sorted global piece ids, their seed (0..), and per seed: whether it survives, its first voxel."""
    join_a = np.concatenate([_EMPTY, *(j[0] for j in blocks.joins)])
    join_b = np.concatenate([_EMPTY, *(j[1] for j in blocks.joins)])
    listed = np.concatenate([_EMPTY, *blocks.pieces])
    every = np.unique(np.concatenate([listed, join_a, join_b]))
    seed_of = components(every.size, np.searchsorted(every, join_a), np.searchsorted(every, join_b))
    n_seeds = int(seed_of.max()) + 1 if every.size else 0
    at = seed_of[np.searchsorted(every, listed)]
    size = np.bincount(at, weights=np.concatenate([_EMPTY, *blocks.piece_count]), minlength=n_seeds)
    first = np.full(n_seeds, NONE, np.int64)
    np.minimum.at(first, at, np.concatenate([_EMPTY, *blocks.piece_first]))
    return every, seed_of, size >= seed_min, first


def _marker_seeds(plan: BlockPlan, block_id: int, arrays: dict[str, np.ndarray], every: np.ndarray,
                  seed_of: np.ndarray, alive: np.ndarray) -> np.ndarray:
    """Seed (0..) each marker of a block settles its fragment with, or -1 (an open fragment)."""
    piece = arrays["marker_piece"]
    seed = np.full(piece.size, -1, np.int64)
    has = piece > 0
    there = seed_of[np.searchsorted(every, piece[has] + block_id * plan.id_stride)]
    seed[has] = np.where(alive[there], there, -1)
    return seed


def merge_watershed(plan: BlockPlan, spec: Watershed, block_ids: Sequence[int],
                    load: Callable[[int], BlockData]) -> MergeTable:
    """Merge table of a watershed decode from the arrays of ``block_ids`` (fetched by ``load``)."""
    blocks = _Blocks()
    for data, joins in with_joins(plan, block_ids, load, "seeds"):
        blocks.add(plan, data)
        blocks.joins += joins
    every, seed_of, alive, first = _seeds(blocks, spec.seed_min)

    instance, voxel, level, value, label = [], [], [], [], []
    for k, arrays in zip(blocks.ids, blocks.arrays):
        seeds = _marker_seeds(plan, k, arrays, every, seed_of, alive)
        instance.append(seeds[1:])
        core = plan.core(k)
        local = np.unravel_index(arrays["border_index"], tuple(s.stop - s.start for s in core))
        voxel.append(np.ravel_multi_index(tuple(c + s.start for c, s in zip(local, core)), plan.shape))
        level.append(arrays["border_level"])
        value.append(arrays["border_value"])
        label.append(seeds[arrays["border_marker"]])
    flooded = np.concatenate([_EMPTY, *label])
    sparse_flood(np.concatenate([_EMPTY, *voxel]), np.concatenate([np.zeros(0, np.uint8), *level]),
                 np.concatenate([np.zeros(0, np.uint8), *value]), flooded, np.array(plan.shape))

    counts = np.concatenate([_EMPTY, *(a["counts"][1:] for a in blocks.arrays)])
    instances = np.concatenate([_EMPTY, *instance])
    opened = np.concatenate([np.zeros(0, bool), *(lab < 0 for lab in label)])
    size = np.bincount(instances[instances >= 0], weights=counts[instances >= 0], minlength=alive.size)
    size += np.bincount(flooded[opened & (flooded >= 0)], minlength=alive.size)
    final = numbering(size, first, spec.small_min)

    voxels, start = {}, 0
    for k, arrays, lab in zip(blocks.ids, blocks.arrays, label):
        stop = start + lab.size
        open_here = lab < 0
        if open_here.any():
            voxels[k] = (arrays["border_index"][open_here], final[flooded[start:stop][open_here] + 1])
        start = stop
    return final_table(blocks.ids, instance, final, voxels)
