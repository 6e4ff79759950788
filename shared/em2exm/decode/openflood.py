"""The flood of open components (see :mod:`em2exm.decode.wsmerge`): the same flood, entry for entry, as one flood
of every block's open voxels, because no flood crosses from one open component into another.

For a set of homes it reads the borders of the blocks the merge lists for them, in ascending block order (the
order every source enters in), keeps the free voxels of the homes' components and the settled voxels next to them
(the sources), and floods them (:func:`em2exm.decode.buckets.sparse_flood`). Per home it returns, per free voxel,
its block, its core-local index and the instance it joined (-1: none reached it), with the voxels each instance
gained and the instances each block gained (what the numbering and each block's table need).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from em2exm.decode.blocks import BlockPlan
from em2exm.decode.buckets import sparse_flood
from em2exm.decode.sets import grouped, member, unique
from em2exm.decode.state import Arrays, State


def _global(plan: BlockPlan, block_id: int, index: np.ndarray) -> np.ndarray:
    core = plan.core(block_id)
    local = np.unravel_index(index, tuple(s.stop - s.start for s in core))
    return np.ravel_multi_index(tuple(c + s.start for c, s in zip(local, core)), plan.shape)


def _next_to(plan: BlockPlan, voxels: np.ndarray) -> np.ndarray:
    """Sorted flat indices of the 6-neighbours of ``voxels`` inside the volume."""
    at = np.unravel_index(voxels, plan.shape)
    near = []
    for axis in range(3):
        for step in (-1, 1):
            moved = list(at)
            moved[axis] = at[axis] + step
            inside = (moved[axis] >= 0) & (moved[axis] < plan.shape[axis])
            near.append(np.ravel_multi_index(tuple(m[inside] for m in moved), plan.shape))
    return unique(np.concatenate(near))


def flood_homes(plan: BlockPlan, state: State, homes: Sequence[int]) -> dict[int, Arrays]:
    """The flood of the open components of ``homes``, per home that has any (possibly with no free voxel: its
    components were all settled by surviving seeds)."""
    lists = {h: state.load("merge", h)["loads"] for h in homes}
    chosen = np.array(sorted(h for h, listed in lists.items() if listed.size), np.int64)
    if not chosen.size:
        return {}
    loads = unique(np.concatenate([lists[h] for h in chosen.tolist()]))
    parts = []
    for k in loads.tolist():
        border, merged = state.border(k), state.load("merge", k)
        instance = merged["instance"][border["border_marker"]]
        home = merged["comp_home"][border["border_component"]]
        own = (instance < 0) & member(home, chosen)
        keep = own | (instance >= 0)
        parts.append((k, _global(plan, k, border["border_index"][keep]), border, keep, own[keep], instance[keep],
                      home[own]))
    near = _next_to(plan, np.concatenate([voxel[free] for _, voxel, _, _, free, _, _ in parts]))
    voxel, level, value, label, free, blocks, index, owner = [], [], [], [], [], [], [], []
    for k, at, border, keep, own, instance, home in parts:
        used = own | member(at, near)
        voxel.append(at[used])
        level.append(border["border_level"][keep][used])
        value.append(border["border_value"][keep][used])
        label.append(instance[used])
        free.append(own[used])
        blocks.append(np.full(home.size, k, np.int64))
        index.append(border["border_index"][keep][own])
        owner.append(home)
    flooded = np.concatenate(label)
    sparse_flood(np.concatenate(voxel), np.concatenate(level), np.concatenate(value), flooded, np.array(plan.shape))
    joined, block, where = flooded[np.concatenate(free)], np.concatenate(blocks), np.concatenate(index)
    by_home = grouped(np.concatenate(owner), np.arange(joined.size))
    return {h: _result(block[at], where[at], joined[at]) for h in chosen.tolist()
            for at in [by_home.get(h, np.zeros(0, np.int64))]}


def _result(block: np.ndarray, index: np.ndarray, joined: np.ndarray) -> Arrays:
    gained, voxels = np.unique(joined[joined >= 0], return_counts=True)
    width = int(joined.max(initial=0)) + 2
    pairs = unique(block * width + joined + 1)  # distinct (block, instance), instance -1 included
    return {"block": block, "index": index, "instance": joined, "gained": gained, "gained_voxels": voxels,
            "touch_block": pairs // width, "touch_instance": pairs % width - 1}
