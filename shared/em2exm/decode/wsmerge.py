"""The merge of a seeded-watershed decode: the whole volume's seeds, and which open voxels flood together.

From every block's arrays (:mod:`em2exm.decode.wsblock`), without their borders: seed pieces are joined across
faces into the whole volume's seeds, sized, and dropped under ``seed_min``; a block's markers of surviving seeds
settle their fragments (each marker's *instance*: its seed, or -1 for an open fragment). The open voxels are
flooded by :mod:`em2exm.decode.openflood`, one group of *open components* at a time: the block-local components
of open voxels, joined where they face each other across a face, are exactly the sets a flood can cross (a voxel's
label depends only on its own component and the settled voxels next to it: see ARCHITECTURE.md, "Scale"). Each
component belongs to its *home*, the first block it touches; the flood of a home reads the borders of the blocks
its components touch and of their neighbours. Memory: per seed piece and per open component, never per voxel.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from em2exm.decode.blocks import BlockPlan
from em2exm.decode.graph import components
from em2exm.decode.pieces import NONE
from em2exm.decode.sets import grouped, unique
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


def _homes(plan: BlockPlan, n_open: dict[int, int], joins: list[Pairs]) -> tuple[np.ndarray, np.ndarray, int]:
    """Global ids of every block's open components (sorted), the home block of each, and how many components the
    joins make of them."""
    stride = plan.id_stride
    nodes = np.concatenate([_EMPTY, *(k * stride + np.arange(1, n + 1, dtype=np.int64) for k, n in n_open.items())])
    join_a, join_b = _joined(joins)
    component = components(nodes.size, np.searchsorted(nodes, join_a), np.searchsorted(nodes, join_b))
    home = np.full(int(component.max(initial=-1)) + 1, NONE, np.int64)
    np.minimum.at(home, component, nodes // stride)
    return nodes, home[component], home.size


def merge_watershed(plan: BlockPlan, spec: Watershed, block_ids: Sequence[int], state: State) -> dict[str, int]:
    """Store each block's ``merge`` part (per marker its instance, per open component its home, the blocks a flood
    of its home reads, the homes whose floods reach it) and the whole ``instances`` part (settled size and first
    voxel per instance; the homes)."""
    stride = plan.id_stride
    listed, count, first, seed_joins, open_joins, n_open = [], [], [], [], [], {}
    for data, joins in with_joins(plan, block_ids, state.block, ("seeds", "open")):
        listed.append(data.block_id * stride + data["piece_ids"].astype(np.int64))
        count.append(np.asarray(data["piece_count"]))
        first.append(np.asarray(data["piece_first"]))
        n_open[data.block_id] = int(data["n_open"])
        seed_joins += joins["seeds"]
        open_joins += joins["open"]
    every, seed_of, alive, seed_first = _seeds(np.concatenate([_EMPTY, *listed]), np.concatenate([_EMPTY, *count]),
                                               np.concatenate([_EMPTY, *first]), seed_joins, spec.seed_min)
    del listed, count, first, seed_joins
    nodes, node_home, n_components = _homes(plan, n_open, open_joins)
    touches = unique(node_home * len(plan) + nodes // stride)  # (home, block) pairs
    touch_home, touch_block = touches // len(plan), touches % len(plan)
    reaches, homes_of = grouped(touch_home, touch_block), grouped(touch_block, touch_home)

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
        lo = np.searchsorted(nodes, k * stride)
        reached = reaches.get(k, _EMPTY)
        beside = [n for b in reached.tolist() for n in plan.neighbours(b).values()]
        loads = unique(np.concatenate([reached, np.array(beside, np.int64)]))
        state.save("merge", k, {
            "instance": instance,
            "comp_home": np.concatenate([[-1], node_home[lo:lo + n_open[k]]]),
            "loads": loads,
            "homes": homes_of.get(k, _EMPTY),
        })
    state.save("instances", WHOLE, {"size": size.astype(np.int64), "first": seed_first,
                                    "homes": unique(touch_home)})
    return {"seeds": int(alive.sum()), "open_components": n_components}
