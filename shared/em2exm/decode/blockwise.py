"""Decode one block of a plan: its core's block-local ids and the arrays stitching needs.

Block ``k``'s local id ``l`` becomes the global id ``k * plan.id_stride + l``, so blocks need no
coordination. The plan's halo must be the decoder's (``spec.halo``): one voxel for the watershed
decoders, the dilation's reach for bc_connected. See :mod:`em2exm.decode.wsblock` and
:mod:`em2exm.decode.ccblock` for what a block computes and :mod:`em2exm.decode.passes` for the passes after.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from em2exm.decode.blocks import BlockPlan
from em2exm.decode.ccblock import connected_block
from em2exm.decode.specs import Spec, Watershed
from em2exm.decode.wsblock import watershed_block
from em2exm.errors import UserError
from em2exm.tiling import Readable


@dataclass
class BlockData:
    """Stitching arrays of one block, by name."""

    block_id: int
    arrays: dict[str, np.ndarray]

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays (for ``np.savez_compressed``)."""
        return {"block_id": np.array(self.block_id), **self.arrays}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> BlockData:
        """Inverse of :meth:`to_arrays` (also accepts an opened ``.npz``)."""
        return cls(int(arrays["block_id"]), {k: np.asarray(arrays[k]) for k in arrays if k != "block_id"})


def plan_for(shape: tuple[int, int, int], block: tuple[int, int, int], spec: Spec) -> BlockPlan:
    """The plan of ``block``-sized blocks over ``shape`` with the halo ``spec`` needs."""
    plan = BlockPlan(shape, block, spec.halo)
    if math.prod(b + 2 * h + 2 for b, h in zip(plan.block, plan.halo)) >= 2**31:
        raise UserError(f"decode blocks of {plan.block} voxels are too large for one block's flood",
                        "use blocks of fewer than 2**31 voxels (e.g. decode.block: [128, 512, 512])")
    return plan


def decode_block(maps: Readable, plan: BlockPlan, block_id: int, spec: Spec) -> tuple[np.ndarray, BlockData]:
    """Read ``maps[:, outer]`` (any array-like: numpy, zarr), decode the block as ``spec`` sets it
    (from :func:`em2exm.decode.decoders.spec`) and return its core's block-local ids and stitching
    arrays."""
    if plan.halo != spec.halo:
        raise ValueError(f"plan halo {plan.halo} is not the {spec.halo} that {spec.name} needs (use plan_for)")
    block = np.asarray(maps[(slice(None), *plan.outer(block_id))])
    if isinstance(spec, Watershed):
        local, arrays = watershed_block(block, plan, block_id, spec)
    else:
        local, arrays = connected_block(block, plan, block_id, spec)
    if local.size and int(local.max()) >= plan.id_stride:
        raise ValueError(f"block {block_id} has id {int(local.max())}, above the plan's {plan.id_stride - 1} per block")
    return local, BlockData(block_id, arrays)
