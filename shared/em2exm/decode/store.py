"""Blockwise decode state in object storage (a :class:`em2exm.decode.state.State`): each block's stitching arrays
and border, and the parts the merge, flood and number passes write.

All of it lives under ``<labels URL>/.faces/`` so an overwrite of the labels removes it with it: a block's arrays
at ``.faces/<k>.npz``, its border at ``.faces/border/<k>.npz``, a pass's part at ``.faces/<kind>/<k>.npz`` (the
merge's whole-volume part at ``.faces/instances/all.npz``). Each object is written atomically.
"""

from __future__ import annotations

import io
from collections import OrderedDict

import numpy as np

from em2exm import faults, storage
from em2exm.decode.blockwise import BlockData
from em2exm.decode.state import WHOLE, Arrays, split

FACES = ".faces"
CACHE_BYTES = 512 * 2**20
"""Bytes of parts a task keeps once read (a flood task reads its blocks' and their neighbours' parts once per sweep,
an apply task its neighbours'); the least recently used go first."""


def _save(url: str, arrays: Arrays) -> None:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, allow_pickle=False, **arrays)  # numeric arrays; np.load reads no pickles
    storage.write_atomic(url, buffer.getvalue())


def _load(url: str) -> Arrays:
    with np.load(io.BytesIO(storage.read_bytes(url))) as arrays:
        return {name: arrays[name] for name in arrays.files}


class StoreState:
    """The decode state of the label image at ``output``, read through a small cache."""

    def __init__(self, output: str) -> None:
        self.output = output
        self.cache: OrderedDict[tuple[str, int], Arrays] = OrderedDict()
        self.cached_bytes = 0

    def url(self, kind: str, block_id: int) -> str:
        if kind == "block":
            return storage.join(self.output, FACES, f"{block_id}.npz")
        return storage.join(self.output, FACES, kind, "all.npz" if block_id == WHOLE else f"{block_id}.npz")

    def save_block(self, data: BlockData) -> None:
        """Store one block's arrays (its border apart)."""
        small, border = split(data)
        _save(self.url("border", data.block_id), border)
        _save(self.url("block", data.block_id), small.to_arrays())

    def block(self, block_id: int) -> BlockData:
        return BlockData.from_arrays(_load(self.url("block", block_id)))

    def border(self, block_id: int) -> Arrays:
        return self.load("border", block_id)

    def save(self, kind: str, block_id: int, arrays: Arrays) -> None:
        _save(self.url(kind, block_id), arrays)
        faults.point(f"decode.{kind}.saved")

    def load(self, kind: str, block_id: int) -> Arrays:
        key = (kind, block_id)
        if key in self.cache:
            self.cache.move_to_end(key)
            return self.cache[key]
        arrays = self.cache[key] = _load(self.url(kind, block_id))
        self.cached_bytes += _nbytes(arrays)
        while self.cached_bytes > CACHE_BYTES and len(self.cache) > 1:
            self.cached_bytes -= _nbytes(self.cache.popitem(last=False)[1])
        return arrays


def _nbytes(arrays: Arrays) -> int:
    return sum(a.nbytes for a in arrays.values())

