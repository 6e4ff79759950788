"""What decides an output: the stage, its options and the identity of every input, as one flat record.

A complete output stores the fingerprint it was made with; a rerun compares (see :mod:`em2exm.outputs`) and names
what differs, so an output made with other options, or from an input that was made again, is never mistaken for
the one asked for.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from em2exm import commit, storage

NOT_FINGERPRINTED = frozenset({"device", "num_workers", "log_interval", "checkpoint_interval", "log_level"})
"""Options that change how a stage runs, never what it writes."""
LEGACY = "_fingerprint"
"""The key a fingerprint-less (older em2exm) record differs in."""


def _marker_identity(url: str) -> str | None:
    """The commit id of the em2exm output at ``url`` or one of its parents (a label image inside a volume)."""
    candidate = storage.normalise(url)
    for _ in range(4):
        try:
            record = json.loads(storage.read_bytes(commit.marker_url(candidate)))
            return str(record.get("commit_id") or record.get("time"))
        except (FileNotFoundError, NotADirectoryError, ValueError):
            pass
        if "/" not in candidate.split("://")[-1].strip("/"):
            return None
        candidate = candidate.rsplit("/", 1)[0]
    return None


def _object_identity(info: Mapping[str, Any]) -> str:
    return str(info.get("ETag") or f"{info.get('size')}@{info.get('mtime') or info.get('LastModified')}")


def input_identity(url: str) -> str:
    """What identifies the current version of an input: the commit id of the em2exm output that holds it, else the
    object's ETag (or size and modification time); for a folder (slices, a foreign zarr) a hash over every file's."""
    marked = _marker_identity(url)
    if marked is not None:
        return marked
    fs, path = storage.filesystem(url)
    try:
        info = fs.info(path)
    except (FileNotFoundError, NotADirectoryError):
        return "missing"
    if info.get("type") != "directory":
        return _object_identity(info)
    digest = hashlib.sha256()
    for name, entry in sorted(fs.find(path, detail=True).items()):
        digest.update(f"{name}\0{_object_identity(entry)}\n".encode())
    return digest.hexdigest()[:32]


def fingerprint(stage: str, options: BaseModel | Mapping[str, Any], inputs: Mapping[str, str | None]) -> dict[str, Any]:
    """Flat ``{"stage": ..., "options.<key>": value, "input.<name>": identity}``."""
    data = options.model_dump(mode="json") if isinstance(options, BaseModel) else dict(options)
    flat: dict[str, Any] = {"stage": stage}
    flat.update({f"options.{k}": v for k, v in sorted(data.items()) if k not in NOT_FINGERPRINTED})
    flat.update({f"input.{name}": input_identity(url) for name, url in sorted(inputs.items()) if url})
    return json.loads(json.dumps(flat))


def differences(old: Mapping[str, Any] | None, new: Mapping[str, Any], allowed: frozenset[str] = frozenset()) -> list[str]:
    """Keys whose values differ between two fingerprints (``allowed`` option names excepted); a missing old
    fingerprint (an output of an older em2exm) differs in :data:`LEGACY`."""
    if not old:
        return [LEGACY]
    keys = sorted(set(old) | set(new))
    return [k for k in keys if old.get(k) != new.get(k) and k.removeprefix("options.") not in allowed]


def describe(keys: list[str], old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> str:
    """The differences in words, at most four."""
    parts = []
    for key in keys[:4]:
        if key == LEGACY:
            parts.append("it was made by an older em2exm that recorded no fingerprint")
        elif key.startswith("input."):
            parts.append(f"{key} was rewritten")
        else:
            parts.append(f"{key}: {(old or {}).get(key)!r} -> {new.get(key)!r}")
    return "; ".join(parts) + (f"; and {len(keys) - 4} more" if len(keys) > 4 else "")
