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


def _on_layer(plan: BlockPlan, block_id: int, index: np.ndarray, axis: int, last: bool) -> np.ndarray:
    """Which core-local flat ``index``es of block ``block_id`` lie on its first (or ``last``) layer along ``axis``."""
    size = _core_size(plan, block_id)
    stride = int(np.prod(size[axis + 1:]))
    coord = (index // stride) % size[axis]
    return coord == (size[axis] - 1 if last else 0)


def _on_faces(plan: BlockPlan, block_id: int, index: np.ndarray) -> np.ndarray:
    """Which core-local ``index``es of block ``block_id`` lie on a face it shares with a neighbour."""
    face = np.zeros(index.size, bool)
    for axis, side in plan.neighbours(block_id):
        face |= _on_layer(plan, block_id, index, axis, side == "+")
    return face


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
    ``value``, ``depth`` and ``instance`` (-1: no seed reached it yet), and whether a value on a shared face
    ``changed`` since the round before (round 0: whether any face voxel was reached). A block none of whose
    neighbours changed a face value in the round before would flood as then: its part only names that round's."""
    if round_index > 0 and not any(bool(state.load(round_kind(round_index - 1), n)["changed"])
                                   for n in plan.neighbours(block_id).values()):
        before = state.load(round_kind(round_index - 1), block_id)
        same = int(before["same_as"]) if "same_as" in before else round_index - 1
        return {"same_as": np.array(same), "changed": np.array(False)}
    border, instance = _settled(state, block_id)
    free = instance < 0
    index = border["border_index"][free]
    voxel, level, value, depth, label = ([_global(plan, block_id, border["border_index"])], [border["border_level"]],
                                         [border["border_value"]], [np.zeros(free.size, np.int64)], [instance])
    if free.any():
        for (axis, side), neighbour in plan.neighbours(block_id).items():
            facing = _facing(plan, state, neighbour, round_index, axis, side == "-")
            for arrays, at in zip(("voxel", "value", "depth", "instance"), (voxel, value, depth, label)):
                at.append(facing[arrays])
            level.append(np.zeros(facing["voxel"].size, np.uint8))
    label_all = np.concatenate(label)
    value_all, depth_all = np.concatenate(value).astype(np.uint8), np.concatenate(depth)
    relax_flood(np.concatenate(voxel), np.concatenate(level), value_all, depth_all, label_all, np.array(plan.shape))
    n = free.size
    result = {"index": index, "value": value_all[:n][free], "depth": depth_all[:n][free],
              "instance": label_all[:n][free]}
    face = _on_faces(plan, block_id, index)
    if round_index == 0:
        changed = bool((result["instance"][face] >= 0).any())
    else:
        before = load_round(state, block_id, round_index - 1)
        changed = any(not np.array_equal(result[k][face], before[k][face]) for k in _CHANGES)
    return {**result, "changed": np.array(changed)}


def _facing(plan: BlockPlan, state: State, neighbour: int, round_index: int, axis: int, last: bool) -> Arrays:
    """The sources ``neighbour`` holds on its layer that faces the block (its ``last`` layer along ``axis`` or its
    first): its settled voxels there, and its open ones as round ``round_index - 1`` left them, where reached."""
    border, instance = _settled(state, neighbour)
    settled = (instance >= 0) & _on_layer(plan, neighbour, border["border_index"], axis, last)
    parts = [(border["border_index"][settled], border["border_value"][settled], np.zeros(int(settled.sum()), np.int64),
              instance[settled])]
    if round_index > 0:
        before = load_round(state, neighbour, round_index - 1)
        reached = (before["instance"] >= 0) & _on_layer(plan, neighbour, before["index"], axis, last)
        parts.append(tuple(before[k][reached] for k in ("index", "value", "depth", "instance")))
    index, value, depth, instance = (np.concatenate(column) for column in zip(*parts))
    return {"voxel": _global(plan, neighbour, index), "value": value, "depth": depth, "instance": instance}
