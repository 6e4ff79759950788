"""Second pass of blockwise decoding: stitch every block's arrays into one merge table.

The table maps every block's global ids to the final ids 1..N, which equal the whole-volume
decode's ids; only voxels on exact plateaus (see :mod:`em2exm.decode.wsblock` and ARCHITECTURE.md)
can differ. The watershed decoders stitch through :mod:`em2exm.decode.wsmerge`, bc_connected through
:mod:`em2exm.decode.ccmerge`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from em2exm.decode.blocks import BlockPlan
from em2exm.decode.blockwise import BlockData
from em2exm.decode.ccmerge import merge_connected
from em2exm.decode.mergetable import MergeTable
from em2exm.decode.specs import Spec, Watershed
from em2exm.decode.wsmerge import merge_watershed


def merge(plan: BlockPlan, spec: Spec, blocks: Iterable[BlockData]) -> MergeTable:
    """Merge table for a plan from every block's :class:`BlockData`."""
    by_id = {b.block_id: b for b in blocks}
    return merge_loaded(plan, spec, sorted(by_id), by_id.__getitem__)


def merge_loaded(plan: BlockPlan, spec: Spec, block_ids: Sequence[int],
                 load: Callable[[int], BlockData]) -> MergeTable:
    """:func:`merge` over ``block_ids`` with each block's data fetched by ``load(block_id)`` when needed
    (a block and its upper neighbours at a time; what stays is each block's pieces, markers and border)."""
    if isinstance(spec, Watershed):
        return merge_watershed(plan, spec, block_ids, load)
    return merge_connected(plan, spec, block_ids, load)
