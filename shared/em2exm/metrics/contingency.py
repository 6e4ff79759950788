"""Sparse contingency table between ground-truth and segmentation ids, accumulated block by block."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import fastremap
import numpy as np

from em2exm.errors import UserError

_DENSE_LIMIT = 1 << 24


@dataclass(frozen=True)
class Table:
    """Voxel counts ``counts[k]`` of each (``gt[k]``, ``seg[k]``) id pair present, 0 included;
    pairs are unique and sorted by (gt, seg)."""

    gt: np.ndarray
    seg: np.ndarray
    counts: np.ndarray

    @property
    def total(self) -> int:
        """Voxels counted."""
        return int(self.counts.sum())


def _reduce(gt: np.ndarray, seg: np.ndarray, counts: np.ndarray) -> Table:
    order = np.lexsort((seg, gt))
    gt, seg, counts = gt[order], seg[order], counts[order]
    start = np.ones(gt.size, bool)
    start[1:] = (gt[1:] != gt[:-1]) | (seg[1:] != seg[:-1])
    first = np.flatnonzero(start)
    return Table(gt[first], seg[first], np.add.reduceat(counts, first) if first.size else counts[:0])


def _inverse(mapping: Mapping[int, int] | Mapping[float, float]) -> np.ndarray:
    """Renumbered id -> original id, from fastremap's original -> renumbered ``mapping`` (float keys come only
    from float arrays, which :func:`pair_counts` refuses)."""
    inverse = np.zeros(len(mapping) + 1, np.int64)
    inverse[np.fromiter(mapping.values(), np.int64, len(mapping))] = list(mapping.keys())
    return inverse


def pair_counts(gt: np.ndarray, seg: np.ndarray) -> Table:
    """Contingency table of two label arrays of one shape (non-negative integer ids)."""
    if gt.shape != seg.shape:
        raise UserError(f"ground truth shape {gt.shape} differs from segmentation shape {seg.shape}",
                        "score a segmentation against ground truth of the same volume")
    for name, array in (("ground truth", gt), ("segmentation", seg)):
        if not np.issubdtype(array.dtype, np.integer):
            raise UserError(f"{name} has dtype {array.dtype}, not integer ids", f"pass {name} labels as integers")
    if gt.size == 0:
        empty = np.zeros(0, np.int64)
        return Table(empty, empty, empty)
    g, g_ids = fastremap.renumber(np.ascontiguousarray(gt).reshape(-1), preserve_zero=False)
    s, s_ids = fastremap.renumber(np.ascontiguousarray(seg).reshape(-1), preserve_zero=False)
    n_s = len(s_ids)
    key = (g.astype(np.int64) - 1) * n_s + (s.astype(np.int64) - 1)
    if len(g_ids) * n_s <= max(_DENSE_LIMIT, key.size):
        counts = np.bincount(key, minlength=len(g_ids) * n_s)
        key = np.flatnonzero(counts)
        counts = counts[key]
    else:
        key, counts = np.unique(key, return_counts=True)
    return _reduce(_inverse(g_ids)[key // n_s + 1], _inverse(s_ids)[key % n_s + 1], counts.astype(np.int64))


class Contingency:
    """Accumulates :class:`Table` s over blocks: ``add(gt_block, seg_block)`` then ``table()``."""

    def __init__(self) -> None:
        self._parts: list[Table] = []

    def add(self, gt_block: np.ndarray, seg_block: np.ndarray) -> None:
        """Count one block (any shape, the same for both)."""
        self.add_table(pair_counts(np.asarray(gt_block), np.asarray(seg_block)))

    def add_table(self, table: Table) -> None:
        """Add a table counted elsewhere (e.g. by another task)."""
        self._parts.append(table)
        if len(self._parts) > 64:
            self._parts = [self.table()]

    def table(self) -> Table:
        """The table of everything added so far."""
        if not self._parts:
            empty = np.zeros(0, np.int64)
            return Table(empty, empty, empty)
        return _reduce(*(np.concatenate([getattr(t, f) for t in self._parts]) for f in ("gt", "seg", "counts")))


def ignore_small_groundtruth(table: Table, min_voxels: int) -> tuple[Table, int, int]:
    """``table`` without the voxels of ground-truth instances smaller than ``min_voxels`` (an ignore label: they
    count for no score, whatever the segmentation put there); also returns how many instances and voxels went."""
    gt_ids, inverse = np.unique(table.gt, return_inverse=True)
    sizes = np.bincount(inverse, weights=table.counts)
    small = (sizes < min_voxels) & (gt_ids != 0)
    drop = small[inverse]
    kept = Table(table.gt[~drop], table.seg[~drop], table.counts[~drop])
    return kept, int(small.sum()), int(table.counts[drop].sum())
