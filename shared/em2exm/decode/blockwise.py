"""Decode one block of a plan with its halo; return its core labels (global ids) and merge info.

Global ids need no coordination: block ``k``'s local id ``l`` becomes ``k * plan.id_stride + l``.
The merge info (:class:`BlockFaces`) is small: the block's ids and, for each face that has a
neighbour, the block's labels on its own boundary plane and on the plane just across the face
(read from its halo). :mod:`em2exm.decode.stitch` pairs those planes between neighbours.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import fastremap
import numpy as np

from em2exm.decode.blocks import AXES, BlockPlan
from em2exm.errors import UserError

Decoder = Callable[[np.ndarray], np.ndarray]


@dataclass
class BlockFaces:
    """Merge info of one block. ``planes['z+']`` (etc.) is a (2, ...) uint64 array: the block's
    labels on its last core plane along z and on the first plane past it ('-' faces: first core
    plane and the plane before it), over the core's extent in the other two axes."""

    block_id: int
    ids: np.ndarray
    planes: dict[str, np.ndarray]

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays (for ``np.savez_compressed``)."""
        return {"block_id": np.array(self.block_id), "ids": self.ids, **self.planes}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> BlockFaces:
        """Inverse of :meth:`to_arrays` (also accepts an opened ``.npz``)."""
        planes = {k: np.asarray(arrays[k]) for k in arrays if k not in ("block_id", "ids")}
        return cls(int(arrays["block_id"]), np.asarray(arrays["ids"]), planes)


def _global(local: np.ndarray, offset: int) -> np.ndarray:
    out = local.astype(np.uint64)
    out[local != 0] += np.uint64(offset)
    return out


def _core_in_outer(plan: BlockPlan, block_id: int) -> list[slice]:
    return [slice(c.start - o.start, c.stop - o.start) for c, o in zip(plan.core(block_id), plan.outer(block_id))]


def _faces(plan: BlockPlan, block_id: int, local: np.ndarray, offset: int) -> dict[str, np.ndarray]:
    """Planes either side of each face with a neighbour, from the outer box's labels ``local``."""
    rel, coords = _core_in_outer(plan, block_id), plan.coords(block_id)
    planes = {}
    for axis in range(3):
        for side, has_neighbour in (("-", coords[axis] > 0), ("+", coords[axis] + 1 < plan.grid[axis])):
            if not has_neighbour:
                continue
            own = rel[axis].start if side == "-" else rel[axis].stop - 1
            across = own - 1 if side == "-" else own + 1
            pair = []
            for index in (own, across):
                cut = list(rel)
                cut[axis] = index  # type: ignore[call-overload]
                pair.append(local[tuple(cut)])
            planes[AXES[axis] + side] = _global(np.stack(pair), offset)
    return planes


def decode_block(maps: object, plan: BlockPlan, block_id: int, decoder: Decoder) -> tuple[np.ndarray, BlockFaces]:
    """Read ``maps[:, outer]`` (any array-like: numpy, zarr), decode it with ``decoder`` (maps of
    shape (C, z, y, x) -> labels (z, y, x), e.g. ``functools.partial(bc_watershed, thres_small=256)``)
    and return the core's labels with global ids (uint64) and the block's merge info."""
    outer = plan.outer(block_id)
    block = np.asarray(maps[(slice(None), *outer)])  # type: ignore[index]
    local = np.asarray(decoder(block))
    if local.shape != block.shape[1:]:
        raise UserError(
            f"the decoder returned shape {local.shape} for a block of shape {block.shape[1:]}",
            "decode blockwise without scale_factors (resize after stitching)",
        )
    if local.size and int(local.max()) >= plan.id_stride:
        raise ValueError(f"decoder returned id {int(local.max())}, above the plan's {plan.id_stride - 1} ids per block")
    offset = block_id * plan.id_stride
    labels = _global(local[tuple(_core_in_outer(plan, block_id))], offset)
    ids = fastremap.unique(labels)
    faces = BlockFaces(block_id, ids[ids != 0].astype(np.uint64), _faces(plan, block_id, local, offset))
    return labels, faces
