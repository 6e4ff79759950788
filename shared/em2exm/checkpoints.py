"""Checkpoint bytes shared by every trainer: ``torch.save`` out, ``torch.load(weights_only=True)`` in, so a
checkpoint can only hold tensors and plain values (no code runs when it is read)."""

from __future__ import annotations

import io
import pickle
from typing import Any, BinaryIO

import torch

from em2exm.errors import UserError


def save_checkpoint(state: dict[str, Any], f: BinaryIO) -> None:
    """Write a trainer ``state_dict()`` to a binary file-like."""
    torch.save(state, f)


def checkpoint_bytes(state: dict[str, Any]) -> bytes:
    """A trainer ``state_dict()`` serialised to bytes."""
    buffer = io.BytesIO()
    save_checkpoint(state, buffer)
    return buffer.getvalue()


def read_checkpoint(source: bytes | BinaryIO, fix: str) -> Any:
    """Load a checkpoint safely onto the CPU; unreadable input is a UserError with ``fix``."""
    f = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source
    try:
        return torch.load(f, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as err:
        raise UserError(f"not a readable checkpoint ({err})", fix) from err
