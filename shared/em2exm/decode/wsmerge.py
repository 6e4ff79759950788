"""The merge of a seeded-watershed decode: the whole volume's seeds.

From every block's arrays (:mod:`em2exm.decode.wsblock`), without their borders: seed pieces are joined across
faces into the whole volume's seeds, sized, and dropped under ``seed_min``; a block's markers of surviving seeds
settle their fragments (each marker's *instance*: its seed, or -1 for an open fragment, which the flood,
:mod:`em2exm.decode.relax`, decides). Memory: per seed piece, never per voxel.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from em2exm.decode.blocks import BlockPlan
from em2exm.decode.graph import components
from em2exm.decode.pieces import NONE
from em2exm.decode.sets import unique
from em2exm.decode.slabs import Pairs, with_joins
from em2exm.decode.specs import Watershed
from em2exm.decode.state import WHOLE, State
from em2exm.progress import progress

_EMPTY = np.zeros(0, np.int64)


def _joined(pairs: list[Pairs]) -> tuple[np.ndarray, np.ndarray]:
    return np.concatenate([_EMPTY, *(p[0] for p in pairs)]), np.concatenate([_EMPTY, *(p[1] for p in pairs)])


def _seeds(listed: np.ndarray, count: np.ndarray, first: np.ndarray, joins: list[Pairs],
           seed_min: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sorted global piece ids, their seed (0..), and per seed: whether it survives, its first voxel."""
    join_a, join_b = _joined(joins)
    every = unique(np.concatenate([listed, join_a, join_b]))
    seed_of = components(every.size, np.searchsorted(every, join_a), np.searchsorted(every, join_b))
    n_seeds = int(seed_of.max()) + 1 if every.size else 0
    at = seed_of[np.searchsorted(every, listed)]
    size = np.bincount(at, weights=count, minlength=n_seeds)
    seed_first = np.full(n_seeds, NONE, np.int64)
    np.minimum.at(seed_first, at, first)
    return every, seed_of, size >= seed_min, seed_first


def merge_watershed(plan: BlockPlan, spec: Watershed, block_ids: Sequence[int], state: State) -> dict[str, int]:
    """Store each block's ``merge`` part (per marker its instance) and the whole ``instances`` part (settled size
    and first voxel per instance)."""
    stride = plan.id_stride
    listed, count, first, seed_joins = [], [], [], []
    for data, joins in with_joins(plan, block_ids, state.block, ("seeds",)):
        listed.append(data.block_id * stride + data["piece_ids"].astype(np.int64))
        count.append(np.asarray(data["piece_count"]))
        first.append(np.asarray(data["piece_first"]))
        seed_joins += joins["seeds"]
    every, seed_of, alive, seed_first = _seeds(np.concatenate([_EMPTY, *listed]), np.concatenate([_EMPTY, *count]),
                                               np.concatenate([_EMPTY, *first]), seed_joins, spec.seed_min)
    del listed, count, first, seed_joins
    size = np.zeros(alive.size)
    for k in progress(block_ids, desc="merge"):
        data = state.block(k)
        piece = np.asarray(data["marker_piece"])
        instance = np.full(piece.size, -1, np.int64)
        has = piece > 0
        there = seed_of[np.searchsorted(every, piece[has] + k * stride)]
        instance[has] = np.where(alive[there], there, -1)
        settled = instance[1:] >= 0
        np.add.at(size, instance[1:][settled], np.asarray(data["counts"])[1:][settled])
        state.save("merge", k, {"instance": instance})
    state.save("instances", WHOLE, {"size": size.astype(np.int64), "first": seed_first})
    return {"seeds": int(alive.sum())}
