"""Blockwise decode state in object storage: each block's stitching arrays, and after the merge its part of the
merge table.

Both live under ``<labels URL>/.faces/`` so an overwrite of the labels removes them with it.
"""

from __future__ import annotations

import io

import numpy as np

from em2exm import storage
from em2exm.decode.blockwise import BlockData
from em2exm.decode.mergetable import MergeTable

FACES = ".faces"


def block_url(output: str, block_id: int) -> str:
    """Where block ``block_id``'s :class:`BlockData` are stored."""
    return storage.join(output, FACES, f"{block_id}.npz")


def save_block(output: str, data: BlockData) -> None:
    """Store one block's stitching arrays as a compressed npz."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, allow_pickle=False, **data.to_arrays())  # numeric arrays; np.load reads no pickles
    storage.write_bytes(block_url(output, data.block_id), buffer.getvalue())


def load_block(output: str, block_id: int) -> BlockData:
    """The arrays stored by :func:`save_block`."""
    with np.load(io.BytesIO(storage.read_bytes(block_url(output, block_id)))) as arrays:
        return BlockData.from_arrays(dict(arrays))


def table_url(output: str, block_id: int) -> str:
    """Where block ``block_id``'s part of the merge table is stored."""
    return storage.join(output, FACES, "table", f"{block_id}.npz")


def save_table(output: str, table: MergeTable, block_id: int) -> None:
    """Store block ``block_id``'s part of ``table``: the final id of each local id and its settled voxels."""
    where, ids = table.voxels.get(block_id, (np.zeros(0, np.int64), np.zeros(0, table.tables[block_id].dtype)))
    buffer = io.BytesIO()
    np.savez_compressed(buffer, allow_pickle=False, count=np.array(table.count), table=table.tables[block_id],
                        where=where, ids=ids)
    storage.write_atomic(table_url(output, block_id), buffer.getvalue())


def load_table(output: str, block_id: int) -> MergeTable:
    """The merge table of block ``block_id`` alone, as :func:`save_table` stored it."""
    with np.load(io.BytesIO(storage.read_bytes(table_url(output, block_id)))) as arrays:
        voxels = {block_id: (arrays["where"], arrays["ids"])} if arrays["where"].size else {}
        return MergeTable(int(arrays["count"]), {block_id: arrays["table"]}, voxels)


def clear(output: str) -> None:
    """Remove all blockwise state of ``output``."""
    storage.remove(storage.join(output, FACES))
