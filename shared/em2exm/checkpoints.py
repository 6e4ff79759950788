"""Checkpoint bytes shared by every trainer: ``torch.save`` out, ``torch.load(weights_only=True)`` in, so a
checkpoint can only hold tensors and plain values (no code runs when it is read)."""

from __future__ import annotations

import io
import pickle
import re
from collections.abc import Mapping
from typing import Any, BinaryIO

import torch

from em2exm import commit, storage
from em2exm.errors import UserError, one_line

CHECKPOINT = "checkpoint.pt"
"""The checkpoint's name in a trainer's output folder (ccgan-train, seg-train)."""


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
        raise UserError(_reason(err), fix) from err


def _reason(err: Exception) -> str:
    """Our one-line reason for an unreadable checkpoint; never torch's advice to load without ``weights_only``."""
    text = str(err)
    refused = re.search(r"GLOBAL (\S+)", text)
    if refused:
        return (f"the checkpoint holds Python objects ({refused.group(1)}) besides tensors and plain values; "
                "em2exm refuses to load them because loading could run code")
    detail = re.search(r"WeightsUnpickler error:\s*(.+?)\s*(?:\n\n|$)", text, re.S)
    if detail:
        text = detail.group(1)
    elif "weights_only" in text:
        text = "refused by the safe loader"
    return f"not a readable checkpoint ({one_line(text) or 'the file ends early'})"


def load_weights(module: torch.nn.Module, weights: Any, fix: str) -> None:
    """``module.load_state_dict(weights)``; weights that are no tensor mapping or do not fit become a UserError."""
    if not isinstance(weights, Mapping) or not all(isinstance(v, torch.Tensor) for v in weights.values()):
        raise UserError(f"the checkpoint's weights are {type(weights).__name__}, not a mapping of tensors", fix)
    try:
        module.load_state_dict(weights)
    except RuntimeError as err:
        raise UserError(f"the checkpoint's weights do not fit the network ({one_line(err, 200)})", fix) from err


def finished_checkpoint(url: str, stage: str) -> bytes:
    """The checkpoint of a finished ``stage`` output folder, or of a ``.pt`` URL as it is (e.g. the latest one of a
    training that has not finished)."""
    path = url if url.endswith(".pt") else storage.join(url, CHECKPOINT)
    if not url.endswith(".pt") and not commit.is_complete(url):
        raise UserError(f"{url} is not a finished {stage} output",
                        f"run {stage} to the end, or pass {path} to use its latest checkpoint")
    if not storage.exists(path):
        raise UserError(f"no checkpoint at {path}", f"pass a {stage} output folder or its {CHECKPOINT}")
    return storage.read_bytes(path)
