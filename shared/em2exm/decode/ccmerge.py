"""The merge of a bc_connected decode: the whole volume's components and the winner of every contested dilation
voxel.

From every block's arrays (:mod:`em2exm.decode.ccblock`): pieces are joined across faces into the whole volume's
components, ordered by their first voxel (the whole-volume decode's ids); a staged candidate set goes to its
candidate with the largest order (PyTC's larger id wins). No voxel is left open: nothing to flood.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from em2exm.decode.blocks import BlockPlan
from em2exm.decode.graph import components
from em2exm.decode.pieces import NONE
from em2exm.decode.slabs import with_joins
from em2exm.decode.specs import Connected
from em2exm.decode.state import WHOLE, State

_EMPTY = np.zeros(0, np.int64)


def merge_connected(plan: BlockPlan, spec: Connected, block_ids: Sequence[int], state: State) -> dict[str, int]:
    """Store each block's ``merge`` part (the instance of each staged id) and the whole ``instances`` part (size
    and first voxel per instance)."""
    present = sorted(set(block_ids))
    pieces, firsts, counts, sets, joins = [], [], [], [], []
    for data, block_joins in with_joins(plan, present, state.block, ("pieces",)):
        joins += block_joins["pieces"]
        offset, n = data.block_id * plan.id_stride, int(data["n_pieces"])
        pieces.append(offset + np.arange(1, n + 1, dtype=np.int64))
        firsts.append(np.asarray(data["piece_first"])[1:])
        counts.append(np.asarray(data["counts"])[1:])
        block_sets = np.asarray(data["sets"], np.int64)
        sets.append(np.where(block_sets > 0, offset + block_sets, 0))
    every = np.concatenate([_EMPTY, *pieces])
    join_a = np.concatenate([_EMPTY, *(j[0] for j in joins)])
    join_b = np.concatenate([_EMPTY, *(j[1] for j in joins)])
    component = components(every.size, np.searchsorted(every, join_a), np.searchsorted(every, join_b))
    n_comp = int(component.max()) + 1 if every.size else 0
    first = np.full(n_comp, NONE, np.int64)
    if every.size:
        np.minimum.at(first, component, np.concatenate(firsts))
    size = np.zeros(n_comp)
    for k, block_pieces, block_sets, block_counts in zip(present, pieces, sets, counts):
        instance = _staged_instances(block_pieces, block_sets, every, component, first)
        size += np.bincount(instance, weights=block_counts, minlength=n_comp)
        state.save("merge", k, {"instance": np.concatenate([[-1], instance])})
    state.save("instances", WHOLE, {"size": size.astype(np.int64), "first": first})
    return {"components": n_comp}


def _staged_instances(pieces: np.ndarray, sets: np.ndarray, every: np.ndarray, component: np.ndarray,
                      first: np.ndarray) -> np.ndarray:
    """Component of each staged id of one block: its pieces', then each candidate set's winner."""
    own = component[np.searchsorted(every, pieces)]
    if not len(sets):
        return own
    candidate = component[np.searchsorted(every, sets)]  # padding (0) finds some component, never chosen
    order = np.where(sets > 0, first[candidate], -1)
    return np.concatenate([own, candidate[np.arange(len(sets)), np.argmax(order, axis=1)]])
