"""Blockwise decode state in object storage: each block's merge info and which blocks are relabelled.

Both live under ``<labels URL>/.faces/`` so an overwrite of the labels removes them with it.
"""

from __future__ import annotations

import io

import numpy as np

from em2exm import storage
from em2exm.decode.blockwise import BlockFaces

FACES = ".faces"


def faces_url(output: str, block_id: int) -> str:
    """Where block ``block_id``'s :class:`BlockFaces` are stored."""
    return storage.join(output, FACES, f"{block_id}.npz")


def save_faces(output: str, faces: BlockFaces) -> None:
    """Store one block's merge info as a compressed npz."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **faces.to_arrays())
    storage.write_bytes(faces_url(output, faces.block_id), buffer.getvalue())


def load_faces(output: str, block_id: int) -> BlockFaces:
    """The merge info stored by :func:`save_faces`."""
    with np.load(io.BytesIO(storage.read_bytes(faces_url(output, block_id)))) as arrays:
        return BlockFaces.from_arrays(dict(arrays))


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
