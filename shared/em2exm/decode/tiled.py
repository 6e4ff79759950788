"""Blockwise decode of a whole volume in this process: every block, then the merge, then relabel.
The pipeline stage runs the same three steps as separate tasks; this serves tests and volumes
that fit in memory."""

from __future__ import annotations

import numpy as np

from em2exm.decode.blocks import BlockPlan
from em2exm.decode.blockwise import Decoder, decode_block
from em2exm.decode.stitch import merge


def decode_blockwise(maps: object, plan: BlockPlan, decoder: Decoder) -> np.ndarray:
    """Labels 1..N of ``maps`` (C, Z, Y, X array-like) decoded block by block and stitched."""
    labels = np.zeros(plan.shape, np.uint64)
    faces = []
    for block_id in plan.block_ids():
        core, info = decode_block(maps, plan, block_id, decoder)
        labels[plan.core(block_id)] = core
        faces.append(info)
    return merge(plan, faces).apply(labels)
