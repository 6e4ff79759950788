"""The flood of the open voxels (see :mod:`em2exm.decode.wsblock`), block by block in rounds.

The open voxels of a block take their labels from the settled voxels next to them and from the open voxels of
neighbouring blocks across its faces, which depend on theirs in turn. Round ``r`` floods each block's open voxels
on their own (:func:`em2exm.decode.buckets.relax_flood`) from the block's settled voxels and from the face voxels
its neighbours have across its faces: the settled ones, and the open ones as round ``r - 1`` left them (value,
depth, label; none in round 0). Values only fall from round to round, each the value of a real path, and stop
where no neighbour undercuts them: the whole-volume flood's values (its minimax levels). Once no block's face
values change, the next round would repeat this one: the flood has *settled*. A label then follows a chain of
neighbours of strictly smaller (value, depth) to a seed, so it is a seed the whole-volume flood may give; it can
differ only where two such chains lead to different seeds (exact plateaus, see ARCHITECTURE.md).

Memory per block: its border and the face layers of its (up to six) neighbours; rounds: about the longest chain of
blocks a level crosses, plus one to see nothing change.
"""

from __future__ import annotations

import functools

import numpy as np

from em2exm.decode.blocks import BlockPlan
from em2exm.decode.buckets import relax_flood
from em2exm.decode.state import Arrays, State

_EMPTY = np.zeros(0, np.int64)
_NO_BORDER: Arrays = {"border_index": _EMPTY, "border_marker": _EMPTY, "border_level": np.zeros(0, np.uint8),
              "border_value": np.zeros(0, np.uint8)}
"""The border of a block of a decoder that leaves no voxel open (bc_connected)."""
_CHANGES = ("value", "depth", "instance")
MARGIN = 2
"""Layers of each neighbour's open voxels a block floods with its own: chains that run along a face, crossing it
back and forth, settle in one round instead of one per crossing (on the 64 M benchmark volume in 8 blocks: 6 rounds
instead of 7; 4 layers: 6 too)."""


def round_kind(round_index: int) -> str:
    """The name of the parts round ``round_index`` stores (one per block)."""
    return f"flood.{round_index}"


def load_round(state: State, block_id: int, round_index: int) -> Arrays:
    """Block ``block_id``'s flood as round ``round_index`` left it (a round that had nothing new for the block
    stores only which earlier round's part holds it: ``same_as``)."""
    part = state.load(round_kind(round_index), block_id)
    if "same_as" in part:
        return state.load(round_kind(int(part["same_as"])), block_id)
    return part


@functools.lru_cache(maxsize=4096)
def _core_size(plan: BlockPlan, block_id: int) -> tuple[int, ...]:
    return tuple(s.stop - s.start for s in plan.core(block_id))


def _from_face(plan: BlockPlan, block_id: int, index: np.ndarray, axis: int, last: bool) -> np.ndarray:
    """How many layers the core-local flat ``index``es of block ``block_id`` lie from its first (or ``last``) layer
    along ``axis``."""
    size = _core_size(plan, block_id)
    coord = (index // int(np.prod(size[axis + 1:]))) % size[axis]
    return size[axis] - 1 - coord if last else coord


def _near_faces(plan: BlockPlan, block_id: int, index: np.ndarray, layers: int) -> np.ndarray:
    """Which core-local ``index``es of block ``block_id`` lie within ``layers`` of a face it shares."""
    near = np.zeros(index.size, bool)
    for axis, side in plan.neighbours(block_id):
        near |= _from_face(plan, block_id, index, axis, side == "+") < layers
    return near


def _global(plan: BlockPlan, block_id: int, index: np.ndarray) -> np.ndarray:
    core = plan.core(block_id)
    local = np.unravel_index(index, _core_size(plan, block_id))
    return np.ravel_multi_index(tuple(c + s.start for c, s in zip(local, core)), plan.shape)


def _settled(state: State, block_id: int) -> tuple[Arrays, np.ndarray]:
    """A block's border and the instance of each of its voxels (-1: open)."""
    border = state.border(block_id) or _NO_BORDER
    return border, state.load("merge", block_id)["instance"][border["border_marker"]]


def flood_block(plan: BlockPlan, state: State, block_id: int, round_index: int) -> Arrays:
    """Round ``round_index`` of block ``block_id``: per open voxel (in border order) its core-local ``index``,
    ``value``, ``depth`` and ``instance`` (-1: no seed reached it yet), and whether a value within ``MARGIN + 1``
    layers of a shared face (what neighbours read) ``changed`` since the round before (round 0: whether any was
    reached). A block none of whose neighbours changed in the round before would flood as then: its part only names
    that round's."""
    if round_index > 0 and not any(bool(state.load(round_kind(round_index - 1), n)["changed"])
                                   for n in plan.neighbours(block_id).values()):
        before = state.load(round_kind(round_index - 1), block_id)
        same = int(before["same_as"]) if "same_as" in before else round_index - 1
        return {"same_as": np.array(same), "changed": np.array(False)}
    border, instance = _settled(state, block_id)
    free = instance < 0
    index = border["border_index"][free]
    own = {"voxel": _global(plan, block_id, border["border_index"]), "level": border["border_level"],
           "value": border["border_value"], "depth": np.zeros(free.size, np.int64), "instance": instance,
           "provisional": np.zeros(free.size, bool)}
    parts = [own]
    if free.any():
        parts += [_margin(plan, state, neighbour, round_index, axis, side == "-")
                  for (axis, side), neighbour in plan.neighbours(block_id).items()]
    every = {k: np.concatenate([part[k] for part in parts]) for k in own}
    relax_flood(every["voxel"], every["level"], every["value"], every["depth"], every["instance"],
                every["provisional"], np.array(plan.shape))
    n = free.size
    result = {"index": index, **{k: every[k][:n][free] for k in _CHANGES}}
    read = _near_faces(plan, block_id, index, MARGIN + 1)
    if round_index == 0:
        changed = bool((result["instance"][read] >= 0).any())
    else:
        before = load_round(state, block_id, round_index - 1)
        changed = any(not np.array_equal(result[k][read], before[k][read]) for k in _CHANGES)
    return {**result, "changed": np.array(changed)}


def _margin(plan: BlockPlan, state: State, neighbour: int, round_index: int, axis: int, last: bool) -> Arrays:
    """What the block floods of ``neighbour``'s ``MARGIN`` layers facing it (its ``last`` layers along ``axis`` or
    its first): the open voxels, flooded again (*provisional* at the value round ``round_index - 1`` gave them,
    where it reached them: paths through blocks the block cannot see), and as sources the settled voxels of those
    layers and the next one and that layer's open voxels as round ``round_index - 1`` left them."""
    border, instance = _settled(state, neighbour)
    layer = _from_face(plan, neighbour, border["border_index"], axis, last)
    free = instance < 0
    value, depth, label = border["border_value"].copy(), np.zeros(free.size, np.int64), instance.copy()
    if round_index > 0:
        before = load_round(state, neighbour, round_index - 1)
        value[free], depth[free], label[free] = before["value"], before["depth"], before["instance"]
    keep = (layer < MARGIN) | ((layer == MARGIN) & (label >= 0))
    return {"voxel": _global(plan, neighbour, border["border_index"][keep]), "level": border["border_level"][keep],
            "value": value[keep], "depth": depth[keep], "instance": label[keep],
            "provisional": (free & (label >= 0) & (layer < MARGIN))[keep]}
