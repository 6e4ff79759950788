"""The passes of a blockwise decode after its blocks: merge, flood (in rounds) and settle, number, apply.

- **merge** (serial; per seed piece): :func:`em2exm.decode.wsmerge.merge_watershed` or
  :func:`em2exm.decode.ccmerge.merge_connected`;
- **flood** (per task's blocks, in rounds until it settles: :mod:`em2exm.decode.relax`) and **settle** (serial:
  whether a round left a block stale; if so another round follows);
- **number** (serial; per instance): sizes (settled plus flooded), instances under ``small_min`` dropped, the rest
  numbered 1..N by first voxel as in the whole-volume decode; each block's table of final ids;
- **apply** (per block): a block's final labels from its block-local ids, its table and its flood.

The table maps every block's ids to the final ids 1..N, which equal the whole-volume decode's ids; only voxels on
exact plateaus (see :mod:`em2exm.decode.wsblock` and ARCHITECTURE.md) can differ. The stage runs each pass as its
own task(s) (``em2exm.tasks.decode``); :func:`stitch` runs the first ones in this process.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from em2exm.decode.blocks import BlockPlan
from em2exm.decode.blockwise import BlockData
from em2exm.decode.ccmerge import merge_connected
from em2exm.decode.mergetable import MergeTable, numbering
from em2exm.decode.relax import FaceRecord, Records, flood_round, load_round, round_kind, settled
from em2exm.decode.specs import Spec, Watershed
from em2exm.decode.state import WHOLE, MemoryState, State
from em2exm.decode.wsmerge import merge_watershed
from em2exm.errors import UserError
from em2exm.progress import progress

_EMPTY = np.zeros(0, np.int64)


def merge_pass(plan: BlockPlan, spec: Spec, block_ids: Sequence[int], state: State) -> dict[str, int]:
    """The merge: every block's ``merge`` part and the whole ``instances`` part."""
    if isinstance(spec, Watershed):
        return merge_watershed(plan, spec, block_ids, state)
    return merge_connected(plan, spec, block_ids, state)


def flood_pass(plan: BlockPlan, state: State, block_ids: Iterable[int], round_index: int,
               earlier: Records | None = None) -> dict[int, FaceRecord]:
    """Round ``round_index`` of the flood of ``block_ids`` (one task's: flooded until none is stale), stored as their
    ``flood.<round>`` parts once all are flooded; returns each one's record for the settle
    (:func:`em2exm.decode.relax.settled`) and the next round (``earlier``: the round before's records; default:
    read from its parts)."""
    parts, records = flood_round(plan, state, block_ids, round_index, earlier)
    for k, part in parts.items():
        state.save(round_kind(round_index), k, part)
    return records


def number_pass(spec: Spec, block_ids: Sequence[int], state: State, rounds: int, largest: int | None = None) -> int:
    """Store every block's ``table`` part (the final id of each block-local id, and of each instance its flood
    brings into the block), from the flood's last of ``rounds``; returns the number of instances. More than
    ``largest`` instances is exit 2."""
    whole = state.load("instances", WHOLE)
    size = whole["size"].copy()
    brought = {}
    for k in progress(block_ids, desc="sizes"):
        joined = load_round(state, k, rounds - 1)["instance"]
        gained, voxels = np.unique(joined[joined >= 0], return_counts=True)
        np.add.at(size, gained, voxels)
        brought[k] = gained
    final = numbering(size, whole["first"], spec.small_min)
    count = int(final.max(initial=0))
    if largest is not None and count > largest:
        raise UserError(f"{count} instances do not fit ids up to {largest}", "set decode.dtype=uint64 and rerun")
    for k in progress(block_ids, desc="number"):
        instance = state.load("merge", k)["instance"]
        state.save("table", k, {"table": final[instance + 1], "count": np.array(count),
                                "extra_instance": brought[k], "extra_final": final[brought[k] + 1]})
    return count


def apply_block(state: State, block_id: int, local: np.ndarray, rounds: int) -> np.ndarray:
    """Final labels of block ``block_id``'s core from its block-local ids ``local`` and the flood's last round."""
    table = state.load("table", block_id)
    flooded = load_round(state, block_id, rounds - 1)
    joined = flooded["instance"] >= 0
    ids = table["extra_final"][np.searchsorted(table["extra_instance"], flooded["instance"][joined])]
    voxels = {block_id: (flooded["index"][joined], ids)}
    return MergeTable(int(table["count"]), {block_id: table["table"]}, voxels).block(block_id, local)


def stitch(plan: BlockPlan, spec: Spec, blocks: Iterable[BlockData]) -> tuple[MemoryState, int]:
    """Merge, flood (one task: one round, flooded until no block is stale) and number every block's
    :class:`BlockData` in this process; returns the state and the flood's rounds, with which :func:`apply_block`
    gives each block's final labels."""
    state = MemoryState(list(blocks))
    ids = sorted(state.blocks)
    merge_pass(plan, spec, ids, state)
    rounds = 1
    while not settled(flood_pass(plan, state, ids, rounds - 1)):
        rounds += 1
    number_pass(spec, ids, state, rounds)
    return state, rounds
