"""Blockwise decode state in object storage: each block's stitching arrays and which blocks are relabelled.

Both live under ``<labels URL>/.faces/`` so an overwrite of the labels removes them with it.
"""

from __future__ import annotations

import io

import numpy as np

from em2exm import storage
from em2exm.decode.blockwise import BlockData

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


def relabelled(output: str) -> set[int]:
    """Blocks whose final ids are already written (so a killed finalise resumes)."""
    names = storage.list_names(storage.join(output, FACES, "final"))
    return {int(name) for name in names if name.isdigit()}


def mark_relabelled(output: str, block_id: int) -> None:
    """Record that block ``block_id`` holds final ids."""
    storage.write_bytes(storage.join(output, FACES, "final", str(block_id)), b"")


def clear(output: str) -> None:
    """Remove all blockwise state of ``output``."""
    storage.remove(storage.join(output, FACES))
