"""Pairs of block-local ids (seed pieces) that two blocks give the same voxels of a face."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np

from em2exm.decode.blocks import BlockPlan
from em2exm.decode.blockwise import BlockData
from em2exm.decode.faces import face_name
from em2exm.decode.sets import unique

Pairs = tuple[np.ndarray, np.ndarray]


def same_voxels(plan: BlockPlan, lower: int, below: np.ndarray, upper: int, above: np.ndarray) -> Pairs:
    """Distinct pairs of global ids (``block * id_stride + local``) of two blocks' pieces on the voxels of their
    shared slab where both have one: ``below`` is the slab as block ``lower`` labels it (its ``+`` face), ``above``
    as block ``upper`` does (its ``-`` face)."""
    both = (below != 0) & (above != 0)
    stride = plan.id_stride  # < 2**31 (plan_for), so a pair fits one int64 key
    pairs = unique(below[both].astype(np.int64) * stride + above[both].astype(np.int64))
    return pairs // stride + lower * stride, pairs % stride + upper * stride


def with_joins(plan: BlockPlan, block_ids: Iterable[int], load: Callable[[int], BlockData],
               prefixes: Sequence[str]) -> Iterator[tuple[BlockData, dict[str, list[Pairs]]]]:
    """Each block of ``block_ids`` in ascending order, loaded once, with, per prefix, the pairs of ids it shares with
    its lower neighbours among ``block_ids`` (slab arrays ``prefix + 'z-'``, ...). Only the ``+`` slabs of blocks
    whose upper neighbour is still to come are kept: at most one layer of blocks."""
    present = sorted(set(block_ids))
    chosen = set(present)
    waiting: dict[tuple[int, int, str], np.ndarray] = {}
    for k in present:
        data = load(k)
        joins: dict[str, list[Pairs]] = {prefix: [] for prefix in prefixes}
        for (axis, side), lower in plan.neighbours(k).items():
            if side == "-" and lower in chosen:
                for prefix in prefixes:
                    below = waiting.pop((lower, axis, prefix))
                    joins[prefix].append(same_voxels(plan, lower, below, k, data[prefix + face_name(axis, "-")]))
        for axis, upper in plan.upper_neighbours(k).items():
            if upper in chosen:
                for prefix in prefixes:
                    waiting[(k, axis, prefix)] = data[prefix + face_name(axis, "+")]
        yield data, joins
