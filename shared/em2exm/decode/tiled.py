"""Blockwise decode of a whole volume in this process: every block, then the merge, flood (in rounds until it settles) and number passes, then
each block's final labels. The pipeline stage runs the same passes as separate tasks; this serves tests, benchmarks and
volumes that fit in memory."""

from __future__ import annotations

import numpy as np

from em2exm.decode.blocks import AXES
from em2exm.decode.blockwise import decode_block, plan_for
from em2exm.decode.passes import apply_block, stitch
from em2exm.decode.relabel import label_dtype
from em2exm.decode.specs import Spec
from em2exm.tiling import Readable


def decode_blockwise(maps: Readable, block: tuple[int, int, int], spec: Spec) -> np.ndarray:
    """Labels 1..N of ``maps`` (C, Z, Y, X array-like) decoded in blocks of ``block`` voxels and stitched."""
    shape = tuple(np.shape(maps)[1:])
    if len(shape) != 3:
        raise ValueError(f"maps of shape {np.shape(maps)} are not (C, {', '.join(AXES.upper())})")
    plan = plan_for(shape, block, spec)
    staged, blocks = [], []
    for block_id in plan.block_ids():
        local, data = decode_block(maps, plan, block_id, spec)
        staged.append(local)
        blocks.append(data)
    state, rounds = stitch(plan, spec, blocks)
    labels = np.zeros(plan.shape, label_dtype(int(state.load("table", 0)["count"])))
    for block_id, local in enumerate(staged):
        labels[plan.core(block_id)] = apply_block(state, block_id, local, rounds)
    return labels
