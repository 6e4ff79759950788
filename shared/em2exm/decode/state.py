"""Where blockwise decode keeps what its passes hand to each other, and an in-memory keeper of it.

A block task stores its :class:`BlockData` in two parts: what the merge reads (seed and open-component face
slabs, pieces, markers; ``block``) and the border voxels only the flood reads (``border``). Each later pass
stores one named part per block (``merge``, ``flood``, ``table``) and the merge a few whole-volume arrays
(``instances``: per instance). :mod:`em2exm.decode.store` keeps them in object storage for the stage.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from em2exm.decode.blockwise import BlockData

Arrays = dict[str, np.ndarray]
WHOLE = -1
"""The block id under which the merge stores its whole-volume part (``instances``)."""
BORDER = "border_"
"""Prefix of the arrays of a block's :class:`BlockData` that go to its ``border`` part."""


class State(Protocol):
    """Storage of the blockwise decode's intermediate arrays."""

    def block(self, block_id: int) -> BlockData:
        """A block's arrays without its border."""

    def border(self, block_id: int) -> Arrays:
        """A block's border arrays (``border_*``)."""

    def save(self, kind: str, block_id: int, arrays: Arrays) -> None:
        """Store the part ``kind`` of block ``block_id``."""

    def load(self, kind: str, block_id: int) -> Arrays:
        """The part stored by :meth:`save`."""


def split(data: BlockData) -> tuple[BlockData, Arrays]:
    """A block's arrays without its border, and its border."""
    small = {k: v for k, v in data.arrays.items() if not k.startswith(BORDER)}
    return BlockData(data.block_id, small), {k: v for k, v in data.arrays.items() if k.startswith(BORDER)}


class MemoryState:
    """A :class:`State` in this process (``decode_blockwise``, tests, benchmarks)."""

    def __init__(self, blocks: list[BlockData]) -> None:
        self.parts: dict[tuple[str, int], Arrays] = {}
        self.blocks: dict[int, BlockData] = {}
        for data in blocks:
            self.blocks[data.block_id], self.parts[("border", data.block_id)] = split(data)

    def block(self, block_id: int) -> BlockData:
        return self.blocks[block_id]

    def border(self, block_id: int) -> Arrays:
        return self.parts[("border", block_id)]

    def save(self, kind: str, block_id: int, arrays: Arrays) -> None:
        self.parts[(kind, block_id)] = arrays

    def load(self, kind: str, block_id: int) -> Arrays:
        return self.parts[(kind, block_id)]
