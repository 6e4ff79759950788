"""Pairs of block-local piece ids that label the same voxels of a shared face's slab."""

from __future__ import annotations

import numpy as np

from em2exm.decode.blocks import BlockPlan
from em2exm.decode.blockwise import BlockData
from em2exm.decode.faces import face_name


def same_voxels(plan: BlockPlan, lower: BlockData, upper: BlockData, axis: int,
                prefix: str) -> tuple[np.ndarray, np.ndarray]:
    """Global ids (``block * id_stride + local``) of both blocks' pieces on the voxels of their shared
    slab (arrays ``prefix + 'z+'`` of the lower block, ``prefix + 'z-'`` of the upper) where both have one."""
    below, above = lower[prefix + face_name(axis, "+")], upper[prefix + face_name(axis, "-")]
    both = (below != 0) & (above != 0)
    return (below[both].astype(np.int64) + lower.block_id * plan.id_stride,
            above[both].astype(np.int64) + upper.block_id * plan.id_stride)
