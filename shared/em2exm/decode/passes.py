"""The passes of a blockwise decode after its blocks: merge, flood, number, apply.

- **merge** (serial; per seed piece and open component): :func:`em2exm.decode.wsmerge.merge_watershed` or
  :func:`em2exm.decode.ccmerge.merge_connected`;
- **flood** (per block: each home's open components, :func:`em2exm.decode.openflood.flood_homes`);
- **number** (serial; per instance): sizes (settled plus flooded), instances under ``small_min`` dropped, the rest
  numbered 1..N by first voxel as in the whole-volume decode; each block's table of final ids;
- **apply** (per block): a block's final labels from its block-local ids, its table and the floods that reach it.

The table maps every block's ids to the final ids 1..N, which equal the whole-volume decode's ids; only voxels on
exact plateaus (see :mod:`em2exm.decode.wsblock` and ARCHITECTURE.md) can differ. The stage runs each pass as its
own task(s) (``em2exm.tasks.decode``); :func:`stitch` runs the first three in this process.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from em2exm.decode.blocks import BlockPlan
from em2exm.decode.blockwise import BlockData
from em2exm.decode.ccmerge import merge_connected
from em2exm.decode.mergetable import MergeTable, numbering
from em2exm.decode.openflood import flood_homes
from em2exm.decode.sets import grouped, unique
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


def flood_pass(plan: BlockPlan, state: State, homes: Sequence[int]) -> None:
    """The flood of the open components of ``homes``, stored as each home's ``flood`` part (none where a home has
    none). Homes flood together or apart alike: a task floods its own."""
    for home, flooded in flood_homes(plan, state, homes).items():
        state.save("flood", home, flooded)


def number_pass(spec: Spec, block_ids: Sequence[int], state: State, largest: int | None = None) -> int:
    """Store every block's ``table`` part (the final id of each block-local id, and of each instance the floods
    bring into the block); returns the number of instances. More than ``largest`` instances is exit 2."""
    whole = state.load("instances", WHOLE)
    size = whole["size"].copy()
    brought: dict[int, list[np.ndarray]] = {}
    for home in whole["homes"].tolist():
        flooded = state.load("flood", home)
        np.add.at(size, flooded["gained"], flooded["gained_voxels"])
        for k, instances in grouped(flooded["touch_block"], flooded["touch_instance"]).items():
            brought.setdefault(k, []).append(instances)
    final = numbering(size, whole["first"], spec.small_min)
    count = int(final.max(initial=0))
    if largest is not None and count > largest:
        raise UserError(f"{count} instances do not fit ids up to {largest}", "set decode.dtype=uint64 and rerun")
    for k in progress(block_ids, desc="number"):
        instance = state.load("merge", k)["instance"]
        extra = unique(np.concatenate([_EMPTY, *brought.get(k, [])]))
        state.save("table", k, {"table": final[instance + 1], "count": np.array(count),
                                "extra_instance": extra, "extra_final": final[extra + 1]})
    return count


def apply_block(state: State, block_id: int, local: np.ndarray) -> np.ndarray:
    """Final labels of block ``block_id``'s core from its block-local ids ``local``."""
    table = state.load("table", block_id)
    where, ids = [], []
    for home in state.load("merge", block_id)["homes"].tolist():
        flooded = state.load("flood", home)
        here = flooded["block"] == block_id
        where.append(flooded["index"][here])
        ids.append(table["extra_final"][np.searchsorted(table["extra_instance"], flooded["instance"][here])])
    voxels = {block_id: (np.concatenate([_EMPTY, *where]), np.concatenate([table["table"][:0], *ids]))} if where else {}
    return MergeTable(int(table["count"]), {block_id: table["table"]}, voxels).block(block_id, local)


def stitch(plan: BlockPlan, spec: Spec, blocks: Iterable[BlockData]) -> MemoryState:
    """Merge, flood and number every block's :class:`BlockData` in this process; :func:`apply_block` then gives each
    block's final labels."""
    state = MemoryState(list(blocks))
    ids = sorted(state.blocks)
    merge_pass(plan, spec, ids, state)
    flood_pass(plan, state, ids)
    number_pass(spec, ids, state)
    return state
