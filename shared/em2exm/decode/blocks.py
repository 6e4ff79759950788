"""Block plan: a volume cut into a grid of blocks (cores) read with a halo of context."""

from __future__ import annotations

import math
from dataclasses import dataclass

from em2exm.errors import UserError
from em2exm.tiling import BlockGrid, Box, Triple

AXES = "zyx"


@dataclass(frozen=True)
class BlockPlan(BlockGrid):
    """Blocks of ``block`` voxels over a (Z, Y, X) ``shape``, each decoded with ``halo`` voxels of
    context on every side (clipped at the volume). Block ids run 0..len-1 in C order of the grid."""

    halo: Triple

    def __post_init__(self) -> None:
        for name in ("shape", "block", "halo"):
            value = getattr(self, name)
            if len(value) != 3 or any(int(v) != v for v in value):
                raise UserError(f"block plan {name}={value!r} is not three integers", f"give {name} as (z, y, x)")
        if min(self.shape) < 1 or min(self.block) < 1:
            raise UserError(f"block plan shape={self.shape} block={self.block} has an empty axis", "use sizes >= 1")
        if min(self.halo) < 1:
            raise UserError(
                f"block plan halo={self.halo} is below 1",
                "use a halo of at least 1 voxel (blocks are joined on the voxels either side of their faces)",
            )
        super().__post_init__()

    def coords(self, block_id: int) -> Triple:
        """Grid position (iz, iy, ix) of ``block_id``."""
        if not 0 <= block_id < len(self):
            raise UserError(f"block id {block_id} is outside 0..{len(self) - 1}", "list ids with block_ids()")
        return super().coords(block_id)

    def outer(self, block_id: int) -> Box:
        """The voxels this block reads: its core grown by the halo, clipped to the volume."""
        return self.context(block_id, self.halo)

    @property
    def id_stride(self) -> int:
        """Ids per block: block ``k``'s local id ``l`` becomes the global id ``k * id_stride + l``."""
        return math.prod(b + 2 * h for b, h in zip(self.block, self.halo)) + 1

    def upper_neighbours(self, block_id: int) -> dict[int, int]:
        """Axis -> id of the block after this one along that axis (where there is one)."""
        return {axis: k for (axis, side), k in self.neighbours(block_id).items() if side == "+"}
