"""Block plan: a volume cut into a grid of blocks (cores) read with a halo of context."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from em2exm.decode.crop import Box
from em2exm.errors import UserError

AXES = "zyx"


@dataclass(frozen=True)
class BlockPlan:
    """Blocks of ``block`` voxels over a (Z, Y, X) ``shape``, each decoded with ``halo`` voxels of
    context on every side (clipped at the volume). Block ids run 0..len-1 in C order of the grid."""

    shape: tuple[int, int, int]
    block: tuple[int, int, int]
    halo: tuple[int, int, int]

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

    @property
    def grid(self) -> tuple[int, int, int]:
        """Blocks along z, y, x."""
        return tuple(math.ceil(s / b) for s, b in zip(self.shape, self.block))  # type: ignore[return-value]

    def __len__(self) -> int:
        return math.prod(self.grid)

    def block_ids(self, start: int = 0, stop: int | None = None) -> range:
        """Ids of blocks ``start..stop-1`` (all by default): the unit an orchestrator fans out."""
        return range(start, len(self) if stop is None else min(stop, len(self)))

    def coords(self, block_id: int) -> tuple[int, int, int]:
        """Grid position (iz, iy, ix) of ``block_id``."""
        if not 0 <= block_id < len(self):
            raise UserError(f"block id {block_id} is outside 0..{len(self) - 1}", "list ids with block_ids()")
        return tuple(int(c) for c in np.unravel_index(block_id, self.grid))  # type: ignore[return-value]

    def block_id(self, coords: tuple[int, int, int]) -> int:
        """Block id at grid position ``coords``."""
        return int(np.ravel_multi_index(coords, self.grid))

    def core(self, block_id: int) -> Box:
        """The voxels this block owns."""
        return tuple(
            slice(c * b, min((c + 1) * b, s)) for c, b, s in zip(self.coords(block_id), self.block, self.shape)
        )  # type: ignore[return-value]

    def outer(self, block_id: int) -> Box:
        """The voxels this block reads: its core grown by the halo, clipped to the volume."""
        return tuple(
            slice(max(c.start - h, 0), min(c.stop + h, s))
            for c, h, s in zip(self.core(block_id), self.halo, self.shape)
        )  # type: ignore[return-value]

    @property
    def id_stride(self) -> int:
        """Ids per block: block ``k``'s local id ``l`` becomes the global id ``k * id_stride + l``."""
        return math.prod(b + 2 * h for b, h in zip(self.block, self.halo)) + 1

    def upper_neighbours(self, block_id: int) -> dict[int, int]:
        """Axis -> id of the block after this one along that axis (where there is one)."""
        coords = self.coords(block_id)
        out = {}
        for axis in range(3):
            if coords[axis] + 1 < self.grid[axis]:
                after = list(coords)
                after[axis] += 1
                out[axis] = self.block_id(tuple(after))  # type: ignore[arg-type]
        return out
