"""The flood of the open voxels (see :mod:`em2exm.decode.wsblock`), block by block in rounds.

The open voxels of a block take their labels from the settled voxels next to them and from the open voxels of
neighbouring blocks across its faces, which depend on theirs in turn. A block's flood
(:func:`em2exm.decode.buckets.relax_flood`) starts from its settled voxels and from the face voxels its neighbours
have across its faces: the settled ones, and the open ones as the neighbours' newest flood left them (value, depth,
label; none before their first). Values only fall from flood to flood, each the value of a real path, and stop
where no neighbour undercuts them: the whole-volume flood's values (its minimax levels).

A task floods its own blocks until none of them is *stale* (one whose neighbours' face values differ from those it
was flooded with), in sweeps that alternate direction and read its own blocks' newest floods; blocks of other tasks
it reads as round ``r - 1`` left them. So round ``r`` is one pass over other tasks' blocks and a fixed point among
its own: one round in a single process; with several tasks, about the number of times the longest chain a level
follows crosses between tasks.

Each block's part records a key of the values near each of its faces (``faces``) and the keys of the neighbours'
faces it was flooded with (``seen_*``), so a block no neighbour changed on the face it reads is not flooded again,
and the flood has *settled* after a round that leaves no block stale (:func:`settled`, from the blocks' records):
every block is a fixed point of its neighbours' final values, whatever blocks the tasks grouped or how often a task
was retried, and as a flood is a function of what it reads, the labels are the same however tasks group the blocks.
A label follows a chain of neighbours of strictly smaller (value, depth) to a seed, so it is a seed the whole-volume
flood may give; it can differ only where two such chains lead to different seeds (exact plateaus, see
ARCHITECTURE.md).

Memory per block: its border and the face layers of its (up to six) neighbours (read once per round, with what the
floods derive from them: :mod:`em2exm.decode.borders`), a task's newest flood of each of its blocks, and during a
flood 4 bytes per voxel of the block's box grown by its margins (the flood's neighbour lookup).
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from em2exm.decode.blocks import BlockPlan
from em2exm.decode.borders import Borders
from em2exm.decode.buckets import relax_flood
from em2exm.decode.state import Arrays, State

log = logging.getLogger("em2exm.decode")
_CHANGES = ("value", "depth", "instance")
MARGIN = 2
"""Layers of each neighbour's open voxels a block floods with its own: chains that run along a face, crossing it
back and forth, settle in one flood instead of one per crossing (on the 64 M benchmark volume in 8 blocks, one
block per task: 6 rounds instead of 7; 4 layers: 6 too)."""
FaceRecord = dict[str, Any]
UNREACHED = 0
"""The key of a face none of whose voxels a seed has reached (as before the block's first flood)."""


FLOOD = "flood"
"""The flood's pass, and the prefix of its rounds' parts and markers."""


def round_kind(round_index: int) -> str:
    """The name of the parts round ``round_index`` stores (one per block)."""
    return f"{FLOOD}.{round_index}"


def load_round(state: State, block_id: int, round_index: int) -> Arrays:
    """Block ``block_id``'s flood as round ``round_index`` left it (a round that did not flood the block stores only
    which earlier round's part holds it: ``same_as``)."""
    part = state.load(round_kind(round_index), block_id)
    if "same_as" in part:
        return state.load(round_kind(int(part["same_as"])), block_id)
    return part


def _face(axis: int, last: bool) -> int:
    """The index (0..5) of a block's face: its first (or ``last``) layers along ``axis``."""
    return 2 * axis + int(last)


def _face_keys(plan: BlockPlan, borders: Borders, block_id: int, free: np.ndarray, flood: Arrays) -> np.ndarray:
    """Per face (:func:`_face`) a key of the values, depths and labels of the open voxels (``free`` of the border)
    within ``MARGIN + 1`` layers of it, what the neighbour across it reads: equal floods, equal keys; ``UNREACHED``
    where no seed reached any of them (and on faces without a neighbour)."""
    keys = np.full(6, UNREACHED, np.int64)
    for axis, side in plan.neighbours(block_id):
        read = borders.layers(block_id, axis, side == "+")[free] <= MARGIN
        if (flood["instance"][read] >= 0).any():
            digest = hashlib.blake2b(digest_size=8)
            for name in _CHANGES:
                digest.update(np.ascontiguousarray(flood[name][read]).tobytes())
            keys[_face(axis, side == "+")] = int.from_bytes(digest.digest(), "little", signed=True) or 1
    return keys


Records = Callable[[int], FaceRecord]
"""A block's record (:func:`face_record`) as the round before left it."""


def records_in_parts(state: State, round_index: int) -> Records:
    """The records of round ``round_index`` read from its parts (where no store of markers holds them)."""
    def record(block_id: int) -> FaceRecord:
        part = state.load(round_kind(round_index), block_id)
        held_by = int(part["same_as"]) if "same_as" in part else round_index
        return face_record(load_round(state, block_id, round_index), held_by)
    return record


class Newest:
    """The newest flood of every block as a task floods round ``round_index``: its own blocks' (``own``, as it
    floods them) and other blocks' as round ``round_index - 1`` left them (None before the first round), whose
    records ``earlier`` gives (small: whether a block is stale needs no flood read)."""

    def __init__(self, plan: BlockPlan, state: State, round_index: int, earlier: Records | None = None) -> None:
        self.state, self.round_index = state, round_index
        self.borders = Borders(plan, state)
        self.own: dict[int, Arrays] = {}
        self._earlier = functools.cache(earlier or records_in_parts(state, round_index - 1))

    def __call__(self, block_id: int) -> Arrays | None:
        if block_id in self.own:
            return self.own[block_id]
        return load_round(self.state, block_id, self.round_index - 1) if self.round_index > 0 else None

    def record(self, block_id: int) -> FaceRecord | None:
        """A block's record as of its newest flood (None before its first)."""
        if block_id in self.own:
            return face_record(self.own[block_id], self.round_index)
        return self._earlier(block_id) if self.round_index > 0 else None

    def face(self, block_id: int, face: int) -> int:
        """The key of a face (:func:`_face`) of a block's newest flood."""
        record = self.record(block_id)
        return UNREACHED if record is None else int(record["faces"][face])

    def stale(self, block_id: int) -> bool:
        """Whether a block was never flooded or a face it read of a neighbour changed since it was."""
        record = self.record(block_id)
        return record is None or not _read_current(record, self.face)


def flood_block(plan: BlockPlan, block_id: int, newest: Newest) -> Arrays:
    """Block ``block_id``'s flood from its neighbours' ``newest`` floods: per open voxel (in border order) its
    core-local ``index``, ``value``, ``depth`` and ``instance`` (-1: no seed reached it yet); per face the key of the
    values within ``MARGIN + 1`` layers of it (what the neighbour across it reads: ``faces``) and the neighbours'
    face keys it read (``seen_block``, ``seen_face``, ``seen_key``)."""
    borders = newest.borders
    border, instance = borders.settled(block_id)
    free = instance < 0
    index = border["border_index"][free]
    if not index.size:  # nothing to flood: no neighbour is read, no face reached
        empty = np.zeros(0, np.int64)
        return {"index": index, "value": border["border_value"][free], "depth": empty, "instance": instance[free],
                "faces": np.full(6, UNREACHED, np.int64), "seen_block": empty, "seen_face": empty,
                "seen_key": empty}
    own = {"voxel": borders.voxels(block_id), "level": border["border_level"],
           "value": border["border_value"], "depth": np.zeros(free.size, np.int64), "instance": instance,
           "provisional": np.zeros(free.size, bool)}
    reads = [(neighbour, axis, side == "-") for (axis, side), neighbour in plan.neighbours(block_id).items()]
    seen = {"seen_block": np.array([neighbour for neighbour, _, _ in reads], np.int64),
            "seen_face": np.array([_face(axis, last) for _, axis, last in reads], np.int64)}
    seen["seen_key"] = np.array([newest.face(int(b), int(f)) for b, f in zip(seen["seen_block"], seen["seen_face"])],
                                np.int64)
    parts = [own] + [_margin(borders, neighbour, newest(neighbour), axis, last) for neighbour, axis, last in reads]
    every = {k: np.concatenate([part[k] for part in parts]) for k in own}
    relax_flood(every["voxel"], every["level"], every["value"], every["depth"], every["instance"],
                every["provisional"], np.array(plan.shape))
    flood = {"index": index, **{k: every[k][:free.size][free] for k in _CHANGES}}
    return {**flood, "faces": _face_keys(plan, borders, block_id, free, flood), **seen}


def _margin(borders: Borders, neighbour: int, flood: Arrays | None, axis: int, last: bool) -> Arrays:
    """What the block floods of ``neighbour``'s ``MARGIN`` layers facing it (its ``last`` layers along ``axis`` or
    its first): the open voxels, flooded again (*provisional* at the value the neighbour's newest ``flood`` gave them,
    where it reached them: paths through blocks the block cannot see), and as sources the settled voxels of those
    layers and the next one and that layer's open voxels as that flood left them."""
    border, instance = borders.settled(neighbour)
    layer = borders.layers(neighbour, axis, last)
    free = instance < 0
    value, depth, label = border["border_value"].copy(), np.zeros(free.size, np.int64), instance.copy()
    if flood is not None:
        value[free], depth[free], label[free] = flood["value"], flood["depth"], flood["instance"]
    keep = (layer < MARGIN) | ((layer == MARGIN) & (label >= 0))
    return {"voxel": borders.voxels(neighbour)[keep], "level": border["border_level"][keep],
            "value": value[keep], "depth": depth[keep], "instance": label[keep],
            "provisional": (free & (label >= 0) & (layer < MARGIN))[keep]}


def flood_round(plan: BlockPlan, state: State, block_ids: Iterable[int], round_index: int,
                earlier: Records | None = None) -> tuple[dict[int, Arrays], dict[int, FaceRecord]]:
    """Round ``round_index`` of ``block_ids`` (one task's blocks), flooded until none of them is stale: each block's
    part (a block the round did not flood names the round whose part holds its flood) and its
    :func:`face_record`. ``earlier``: the records of round ``round_index - 1`` (default: read from its parts)."""
    ids = sorted(block_ids)
    newest = Newest(plan, state, round_index, earlier)
    sweep = 0
    while True:
        flooded = [k for k in (ids if sweep % 2 == 0 else ids[::-1]) if _flood_if_stale(plan, k, newest)]
        if not flooded:
            break
        log.info("flood round %d, sweep %d: %d of %d blocks flooded", round_index, sweep, len(flooded), len(ids))
        sweep += 1
    records = {k: record for k in ids if (record := newest.record(k)) is not None}
    parts = {k: newest.own[k] if k in newest.own else {"same_as": np.array(records[k]["round"])} for k in ids}
    return parts, records


def face_record(flood: Arrays, round_index: int) -> FaceRecord:
    """What the settle and the next round need of a block's flood, which round ``round_index`` made: the keys of its
    faces and the neighbours' face keys it read."""
    return {"round": round_index, "faces": [int(key) for key in flood["faces"]],
            "seen": [[int(n), int(face), int(key)]
                     for n, face, key in zip(flood["seen_block"], flood["seen_face"], flood["seen_key"])]}


def settled(records: Mapping[int, FaceRecord]) -> bool:
    """Whether no block is stale by a round's records of every block (:func:`face_record`): each was flooded from its
    neighbours' final face values, so another round would flood nothing."""
    return all(_read_current(record, lambda n, face: records[n]["faces"][face]) for record in records.values())


def _read_current(record: FaceRecord, face_key: Callable[[int, int], int]) -> bool:
    """Whether every neighbour face a block's ``record`` read still has the key it read (``face_key(block, face)``:
    the face's key now)."""
    return all(face_key(n, face) == key for n, face, key in record["seen"])


def _flood_if_stale(plan: BlockPlan, block_id: int, newest: Newest) -> bool:
    """Flood a block if it is stale (see :class:`Newest`); returns whether it did."""
    if not newest.stale(block_id):
        return False
    newest.own[block_id] = flood_block(plan, block_id, newest)
    return True
