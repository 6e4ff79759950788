"""Block grids: a (Z, Y, X) volume cut into regular blocks, their core and context boxes, neighbours, chunks."""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

Triple = tuple[int, int, int]
Box = tuple[slice, slice, slice]
MAX_CHUNK = 64
"""The largest storage chunk edge :func:`chunks_for` picks, in voxels."""

T = TypeVar("T")


def triple(values: Iterable[T]) -> tuple[T, T, T]:
    """The (z, y, x) tuple of ``values``, which must be exactly three (a ValueError otherwise)."""
    z, y, x = values
    return z, y, x


def tile(region: Box | Sequence[int], size: Sequence[int]) -> list[Box]:
    """Boxes of at most ``size`` voxels tiling ``region`` (a box, or a shape from the origin) in C order."""
    box = [r if isinstance(r, slice) else slice(0, int(r)) for r in region]
    ranges = [range(r.start, r.stop, int(s)) for r, s in zip(box, size)]
    return [
        triple(slice(c, min(c + int(s), r.stop)) for c, s, r in zip(corner, size, box))
        for corner in itertools.product(*ranges)
    ]


@dataclass(frozen=True)
class BlockGrid:
    """Blocks of ``block`` voxels over a (Z, Y, X) ``shape``, the last ones clipped; ids 0..len-1 in C order."""

    shape: Triple
    block: Triple

    def __post_init__(self) -> None:
        for name in ("shape", "block"):
            value = tuple(int(v) for v in getattr(self, name))
            if len(value) != 3 or min(value) < 1:
                raise ValueError(f"block grid {name}={getattr(self, name)!r} is not three sizes >= 1")
            object.__setattr__(self, name, value)

    @functools.cached_property
    def grid(self) -> Triple:
        """Blocks along z, y, x."""
        return triple(math.ceil(s / b) for s, b in zip(self.shape, self.block))

    def __len__(self) -> int:
        return math.prod(self.grid)

    def block_ids(self, start: int = 0, stop: int | None = None) -> range:
        """Ids of blocks ``start..stop-1`` (all by default)."""
        return range(start, len(self) if stop is None else min(stop, len(self)))

    def coords(self, block_id: int) -> Triple:
        """Grid position (iz, iy, ix) of ``block_id``."""
        if not 0 <= block_id < len(self):
            raise IndexError(f"block {block_id} out of range 0..{len(self) - 1}")
        rest, x = divmod(int(block_id), self.grid[2])
        z, y = divmod(rest, self.grid[1])
        return z, y, x

    def block_id(self, coords: Sequence[int]) -> int:
        """Block id at grid position ``coords``."""
        z, y, x = (int(c) for c in coords)
        if not all(0 <= c < g for c, g in zip((z, y, x), self.grid)):
            raise ValueError(f"grid position {(z, y, x)} is outside the grid {self.grid}")
        return (z * self.grid[1] + y) * self.grid[2] + x

    def core(self, block_id: int) -> Box:
        """The voxels block ``block_id`` owns: the cores tile the volume exactly once."""
        return triple(
            slice(c * b, min((c + 1) * b, s)) for c, b, s in zip(self.coords(block_id), self.block, self.shape)
        )

    def cores(self) -> list[Box]:
        """Every core, by block id."""
        return tile(self.shape, self.block)

    def context(self, block_id: int, halo: Sequence[int]) -> Box:
        """The core grown by ``halo`` voxels on every side, clipped to the volume."""
        return triple(
            slice(max(c.start - h, 0), min(c.stop + h, s)) for c, h, s in zip(self.core(block_id), halo, self.shape)
        )

    def neighbours(self, block_id: int) -> dict[tuple[int, str], int]:
        """(axis, side) -> id of the block across each face that has one; side ``'-'`` before, ``'+'`` after."""
        coords = self.coords(block_id)
        out = {}
        for axis in range(3):
            for side, step in (("-", -1), ("+", 1)):
                there = list(coords)
                there[axis] += step
                if 0 <= there[axis] < self.grid[axis]:
                    out[(axis, side)] = self.block_id(there)
        return out

    def compact_order(self) -> list[int]:
        """Block ids in Z order (Morton) of their grid positions: an aligned run of ``8**k`` of them is a cube of
        ``2**k`` blocks a side (``2 * 4**k``, ``4**k``: slabs of such cubes), so a range of positions is a compact
        group of blocks, not a row."""
        coords = np.unravel_index(np.arange(len(self)), self.grid)
        key = np.zeros(len(self), np.int64)
        for bit in range(max(self.grid).bit_length()):
            for axis, c in enumerate(coords):
                key |= ((c >> bit) & 1) << (3 * bit + 2 - axis)
        return [int(k) for k in np.argsort(key, kind="stable")]

    def fingerprint(self) -> dict[str, list[int]]:
        """What decides the grid, as JSON-ready lists (a changed grid is another plan)."""
        return {"shape": list(self.shape), "block": list(self.block), "grid": list(self.grid)}


def chunks_for(block: Sequence[int], shape: Sequence[int], max_chunk: int = MAX_CHUNK) -> Triple:
    """Storage chunks for blocks of ``block`` voxels over ``shape``: blocks written in parallel never share one.

    Per axis: one block spans the axis (``block >= shape``): ``min(max_chunk, shape)``; else the largest divisor
    of ``block`` up to ``max_chunk``, or ``block`` itself when that divisor is below ``max_chunk / 2`` (say a
    prime block). Chunks then divide every block, whose edges lie on multiples of ``block``.
    """
    chunks = []
    for b, n in zip(block, shape):
        if b >= n:
            chunks.append(min(max_chunk, int(n)))
            continue
        divisor = max(d for d in range(1, min(int(b), max_chunk) + 1) if b % d == 0)
        chunks.append(divisor if 2 * divisor >= max_chunk else int(b))
    return triple(chunks)
