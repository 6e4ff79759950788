"""Where neighbouring blocks meet: the faces a block shares and the slabs both sides of a face store.

A *slab* is the box ``depth`` voxels either side of the plane between a block and its neighbour, over
the block's outer box in the other two axes. Both blocks of a face describe the same slab, so their
labels of the same voxels can be paired. Faces are named by axis and side: ``'z-'``, ``'z+'``, ...
"""

from __future__ import annotations

from em2exm.decode.blocks import AXES, BlockPlan
from em2exm.tiling import Box, triple


def shared_faces(plan: BlockPlan, block_id: int) -> list[tuple[int, str]]:
    """(axis, side) of every face of ``block_id`` that has a neighbour."""
    return list(plan.neighbours(block_id))


def face_name(axis: int, side: str) -> str:
    """``'z-'``, ``'y+'``, ..."""
    return AXES[axis] + side


def slab(plan: BlockPlan, block_id: int, axis: int, side: str, depth: int) -> Box:
    """Global box ``depth`` voxels either side of the face (clipped to the volume), over the outer box
    in the other axes: the same box for both blocks of the face."""
    core, outer = plan.core(block_id), plan.outer(block_id)
    plane = core[axis].start if side == "-" else core[axis].stop
    box = list(outer)
    box[axis] = slice(max(plane - depth, 0), min(plane + depth, plan.shape[axis]))
    return triple(box)


def within(box: Box, origin: Box) -> Box:
    """``box`` in the coordinates of an array that holds ``origin``."""
    return triple(slice(b.start - o.start, b.stop - o.start) for b, o in zip(box, origin))

