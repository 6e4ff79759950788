"""Atomic commit of stage outputs through completion markers.

Object stores have no atomic rename, so an output only counts as complete once its marker, a small
JSON object, has been written *after* all of its data.  A killed stage leaves data without a marker:
the next run sees it as incomplete and redoes it.  Blockwise stages keep one marker per block so a
re-run skips finished blocks; stages with a merge pass also mark the merge and each block it was applied to.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from em2exm import __version__, storage

MARKER = ".em2exm_complete.json"
BLOCK_MARKERS = ".em2exm_blocks"
PASS_MARKERS = ".em2exm_passes"


def marker_url(url: str) -> str:
    """Where the completion marker of the output at ``url`` lives."""
    return storage.join(url, MARKER)


def is_complete(url: str) -> bool:
    """Whether the output at ``url`` was committed."""
    return storage.exists(marker_url(url))


def mark_complete(url: str, info: dict[str, Any] | None = None) -> None:
    """Commit the output at ``url``: call only after every byte of it is written."""
    record = {"version": __version__, "time": time.time(), "commit_id": uuid.uuid4().hex, **(info or {})}
    storage.write_atomic(marker_url(url), json.dumps(record, indent=1).encode())


def read_marker(url: str) -> dict[str, Any]:
    """The record stored by :func:`mark_complete`."""
    return json.loads(storage.read_bytes(marker_url(url)))


def block_done(url: str, block_id: int) -> bool:
    """Whether block ``block_id`` of the output at ``url`` was committed."""
    return storage.exists(storage.join(url, BLOCK_MARKERS, str(block_id)))


def mark_block_done(url: str, block_id: int, info: dict[str, Any] | None = None, folder: str = BLOCK_MARKERS) -> None:
    """Commit one block of a blockwise output, after its data is written (``folder``: which pass)."""
    storage.write_atomic(storage.join(url, folder, str(block_id)), json.dumps(info or {}).encode())


def read_block_info(url: str, block_id: int, folder: str = BLOCK_MARKERS) -> dict[str, Any]:
    """The record stored by :func:`mark_block_done`."""
    return json.loads(storage.read_bytes(storage.join(url, folder, str(block_id))))


def done_blocks(url: str, folder: str = BLOCK_MARKERS) -> set[int]:
    """Ids of the committed blocks of the output at ``url`` (``folder``: of which pass)."""
    return {int(name) for name in storage.list_names(storage.join(url, folder)) if name.isdigit()}


def pass_folder(name: str, round_index: int | None = None) -> str:
    """The folder (under an output) of the per-block markers of the fanned-out pass ``name`` (of one of its rounds)."""
    return f"{PASS_MARKERS}/{name}" + ("" if round_index is None else f".{round_index}")


def mark_pass(url: str, name: str, info: dict[str, Any]) -> None:
    """Commit the serial pass ``name`` of a blockwise output, after everything later passes read is written."""
    storage.write_atomic(storage.join(url, PASS_MARKERS, f"{name}.json"), json.dumps(info).encode())


def read_pass(url: str, name: str) -> dict[str, Any] | None:
    """The record stored by :func:`mark_pass`, or None before the pass is committed."""
    try:
        return json.loads(storage.read_bytes(storage.join(url, PASS_MARKERS, f"{name}.json")))
    except (FileNotFoundError, NotADirectoryError, ValueError, TypeError, KeyError):
        return None


def current_round(url: str, name: str) -> int:
    """The round the fanned-out pass ``name`` (run in rounds) of the output at ``url`` is in: the rounds closed."""
    closed = 0
    while read_pass(url, f"{name}.{closed}") is not None:
        closed += 1
    return closed
