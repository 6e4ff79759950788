"""Second pass of blockwise decoding: merge objects cut by block faces, then relabel 1..N.

Across every face, the two blocks' labels are compared on the same two planes (each block's own
boundary plane and the plane it sees across the face in its halo). Ids ``a`` (lower block) and
``b`` (upper block) are merged when each is the other's largest overlap there (ties to the
smaller id); merges chain through a graph's connected components. Final ids are 1..N in order of
each merged object's smallest global id, so the result needs no coordination and is
deterministic.

Guarantee: an object is labelled as in the whole-volume decode when it, and everything that
decides its voxels (its seeds and the seeds it competes with in its foreground component), lies
within ``halo`` of every block core it touches. For the watershed decoders "decides" also covers
scikit-image's tie order between equal-valued seeds, which depends on the whole volume's heap:
on plateaus (saturated maps) a few contested voxels between touching objects can differ.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from em2exm.decode.blocks import AXES, BlockPlan
from em2exm.decode.blockwise import BlockFaces
from em2exm.decode.relabel import label_dtype


@dataclass
class MergeTable:
    """Global id -> final id; ``source`` is sorted and starts with 0 (-> 0)."""

    source: np.ndarray
    target: np.ndarray

    def apply(self, labels: np.ndarray) -> np.ndarray:
        """Final labels for a block (or volume) of global ids; every id must be in ``source``."""
        return self.target[np.searchsorted(self.source, labels)]


def _best(keys: np.ndarray, other: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Boolean mask of the pairs that are ``keys``' largest overlap (ties to the smaller other id)."""
    order = np.lexsort((other, -counts, keys))
    first = np.ones(order.size, bool)
    first[1:] = keys[order][1:] != keys[order][:-1]
    chosen = np.zeros(order.size, bool)
    chosen[order[first]] = True
    return chosen


def face_matches(lower: BlockFaces, upper: BlockFaces, axis: int) -> np.ndarray:
    """Merged (a, b) pairs, as a (k, 2) uint64 array, across the face between ``lower`` and the
    block after it along ``axis``; only ids present in each block's core take part."""
    below, above = lower.planes[AXES[axis] + "+"], upper.planes[AXES[axis] + "-"]
    a = np.concatenate([below[1].ravel(), below[0].ravel()])
    b = np.concatenate([above[0].ravel(), above[1].ravel()])
    both = np.isin(a, lower.ids) & np.isin(b, upper.ids)
    if not both.any():
        return np.zeros((0, 2), np.uint64)
    pairs, counts = np.unique(np.stack([a[both], b[both]], axis=1), axis=0, return_counts=True)
    mutual = _best(pairs[:, 0], pairs[:, 1], counts) & _best(pairs[:, 1], pairs[:, 0], counts)
    return pairs[mutual]


def merge(plan: BlockPlan, faces: Iterable[BlockFaces]) -> MergeTable:
    """Merge table for a plan from every block's :class:`BlockFaces`."""
    by_id = {f.block_id: f for f in faces}
    return merge_loaded(plan, sorted(by_id), by_id.__getitem__)


def merge_loaded(plan: BlockPlan, block_ids: Sequence[int], load: Callable[[int], BlockFaces]) -> MergeTable:
    """:func:`merge` over ``block_ids`` with each block's faces fetched by ``load(block_id)`` when
    needed: at most a block and its upper neighbours are held at once (for plans too large to keep
    every block's faces in memory)."""
    present = set(block_ids)
    ids = [np.zeros(1, np.uint64)]
    matches = [np.zeros((0, 2), np.uint64)]
    for k in sorted(present):
        block = load(k)
        ids.append(block.ids)
        for axis, upper in plan.upper_neighbours(k).items():
            if upper in present:
                matches.append(face_matches(block, load(upper), axis))
    source = np.sort(np.concatenate(ids))
    pairs = np.searchsorted(source, np.concatenate(matches))
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(source.size, source.size))
    _, component = connected_components(graph, directed=False)
    target = component.astype(label_dtype(int(component.max())))
    return MergeTable(source, target)
