"""Claiming an output location: what em2exm may write, delete and resume there.

An output location belongs to em2exm only where em2exm's own marker or metadata is (a ``.em2exm*`` object,
or a ``zarr.json`` whose attributes carry ``em2exm``).  A location that holds anything else is the user's: it is
never written to, ``--overwrite`` or not.  In an em2exm location, a fresh start or ``--overwrite`` removes only
the stage's declared *products* (top-level names or patterns) and em2exm's markers, so a file the user put
beside them survives.

:func:`claim` also refuses outputs that equal, contain or lie inside an input, takes the location's lease (one
writer, :mod:`em2exm.lease`), and records a *fingerprint* of the work (options and the identity of each input):
a complete output made with another fingerprint, or an unfinished one resumed with another, is exit 2 naming
what differs, never a silent mix.
"""

from __future__ import annotations

import fnmatch
import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from em2exm import commit, faults, storage
from em2exm.errors import UserError
from em2exm.lease import Lease

PLAN = ".em2exm_plan.json"
OWN_PREFIX = ".em2exm"
ZARR_JSON = "zarr.json"
NOT_FINGERPRINTED = frozenset({"device", "num_workers", "log_interval", "checkpoint_interval", "log_level"})
log = logging.getLogger("em2exm.outputs")


def _inside(inner: str, outer: str) -> bool:
    return inner == outer or inner.startswith(outer.rstrip("/") + "/")


def check_separate(output: str, inputs: Mapping[str, str | None]) -> None:
    """Exit 2 when ``output`` equals, contains or lies inside one of the ``inputs``."""
    out = storage.normalise(output)
    for name, url in inputs.items():
        if not url:
            continue
        source = storage.normalise(url)
        if _inside(out, source) or _inside(source, out):
            relation = "is" if out == source else ("is inside" if _inside(out, source) else "contains")
            raise UserError(f"the output {out} {relation} the input {name} ({source})",
                            "write the output to a separate location")


def _is_em2exm_zarr(url: str) -> bool:
    try:
        meta = json.loads(storage.read_bytes(storage.join(url, ZARR_JSON)))
    except (FileNotFoundError, ValueError):
        return False
    return isinstance(meta, dict) and "em2exm" in (meta.get("attributes") or {})


def _entries(url: str) -> list[str]:
    if storage.is_file(url):
        raise UserError(f"the output {url} is an existing file", "pass a folder or URL for the output")
    try:
        return storage.list_names(url)
    except PermissionError as exc:
        raise UserError(f"cannot read the output location {url} (permission denied)",
                        "choose a location you can write to") from exc
    except NotADirectoryError as exc:
        raise UserError(f"the output {url} lies under a file", "pass a folder or URL for the output") from exc


def check_owned(url: str) -> list[str]:
    """The names in ``url``; exit 2 when they hold anything and none of it is em2exm's."""
    names = _entries(url)
    if names and not any(n.startswith(OWN_PREFIX) for n in names) and not (
            ZARR_JSON in names and _is_em2exm_zarr(url)):
        shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
        raise UserError(f"the output {url} already holds data that em2exm did not write ({shown})",
                        "choose a new or empty output location; em2exm never deletes or overwrites data it did not write")
    return names


def input_identity(url: str) -> str:
    """What identifies the current version of an input: the commit id of the em2exm output that holds it
    (looked up at ``url`` and its parents), else the object's ETag/size and modification time."""
    candidate = storage.normalise(url)
    for _ in range(4):
        try:
            record = json.loads(storage.read_bytes(commit.marker_url(candidate)))
            return str(record.get("commit_id") or record.get("time"))
        except (FileNotFoundError, NotADirectoryError, ValueError):
            pass
        if "/" not in candidate.split("://")[-1].strip("/"):
            break
        candidate = candidate.rsplit("/", 1)[0]
    fs, path = storage.filesystem(url)
    try:
        info = fs.info(path)
    except (FileNotFoundError, NotADirectoryError):
        return "missing"
    return str(info.get("ETag") or f"{info.get('size')}@{info.get('mtime') or info.get('LastModified')}")


def fingerprint(stage: str, options: BaseModel | Mapping[str, Any], inputs: Mapping[str, str | None]) -> dict[str, Any]:
    """Flat ``{"options.<key>": value, "input.<name>": identity}`` of everything that decides the output."""
    data = options.model_dump(mode="json") if isinstance(options, BaseModel) else dict(options)
    flat: dict[str, Any] = {"stage": stage}
    flat.update({f"options.{k}": v for k, v in sorted(data.items()) if k not in NOT_FINGERPRINTED})
    flat.update({f"input.{name}": input_identity(url) for name, url in sorted(inputs.items()) if url})
    return json.loads(json.dumps(flat))


def differences(old: Mapping[str, Any], new: Mapping[str, Any], allowed: frozenset[str] = frozenset()) -> list[str]:
    """Keys whose values differ between two fingerprints (``allowed`` option names excepted)."""
    keys = sorted(set(old) | set(new))
    return [k for k in keys if old.get(k) != new.get(k) and k.removeprefix("options.") not in allowed]


def _describe(keys: list[str], old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    parts = []
    for key in keys[:4]:
        if key.startswith("input."):
            parts.append(f"{key} was rewritten")
        else:
            parts.append(f"{key}: {old.get(key)!r} -> {new.get(key)!r}")
    return "; ".join(parts) + (f"; and {len(keys) - 4} more" if len(keys) > 4 else "")


@dataclass
class Output:
    """A claimed output location: this process holds its lease until the ``with`` block ends."""

    url: str
    products: tuple[str, ...]
    lease: Lease
    fingerprint: dict[str, Any]
    complete: bool = False
    resumed: bool = False
    keep: bool = False
    """Whether a failure should leave the partial output for a resume (else a new location is cleaned up)."""

    def clear(self) -> None:
        """Remove the stage's products and em2exm's markers (never the lease, never anything else)."""
        for name in storage.list_names(self.url):
            if name == ".em2exm_lease.json":
                continue
            if name.startswith(OWN_PREFIX) or any(fnmatch.fnmatchcase(name, p) for p in self.products):
                storage.remove(storage.join(self.url, name))

    def start(self) -> None:
        """Record the fingerprint of the work under way, once what a resume needs exists (resume compares against it)."""
        storage.write_atomic(storage.join(self.url, PLAN), json.dumps(self.fingerprint, indent=1).encode())

    def check(self) -> None:
        """Exit 2 if another run took the lease over (call before committing a block or the output)."""
        self.lease.check()

    def commit(self, info: Mapping[str, Any] | None = None) -> None:
        """Mark the output complete, with its fingerprint, after all of its data is written."""
        self.check()
        commit.mark_complete(self.url, {**(info or {}), "fingerprint": self.fingerprint})


def planned(url: str) -> bool:
    """Whether work at ``url`` was planned (prepared, with its fingerprint recorded) or is complete."""
    return storage.exists(storage.join(url, PLAN)) or commit.is_complete(url)


def _stored_plan(url: str) -> dict[str, Any] | None:
    try:
        return json.loads(storage.read_bytes(storage.join(url, PLAN)))
    except (FileNotFoundError, ValueError):
        return None


@contextmanager
def claim(
    url: str,
    *,
    stage: str,
    options: BaseModel | Mapping[str, Any],
    inputs: Mapping[str, str | None],
    products: Sequence[str],
    overwrite: bool,
    resumable: frozenset[str] | None = None,
    joinable: bool = False,
    keep_lease: bool = False,
    start: bool = True,
) -> Iterator[Output]:
    """Claim ``url`` for ``stage`` and yield it; ``output.complete`` means there is nothing to do.

    ``resumable``: None for a stage that restarts unfinished work from scratch; else the option names that may
    change when unfinished work is resumed (any other difference is exit 2).  ``joinable``/``keep_lease``: for the
    tasks of one blockwise fan-out, which share this run's lease and leave it for the next task.  ``start``: record
    the fingerprint at once (a stage that must prepare first calls :meth:`Output.start` itself)."""
    storage.check_reachable(url)
    check_separate(url, inputs)
    new_location, existed = not check_owned(url), storage.existing_ancestor(url)
    lease = Lease(url, stage, joinable)
    try:
        lease.acquire()
    except OSError as exc:
        raise UserError(f"cannot write to the output {url} ({exc.strerror or type(exc).__name__})",
                        "choose a location you can write to") from exc
    faults.point("outputs.claimed")
    output = Output(storage.normalise(url), tuple(products), lease, {}, keep=resumable is not None)
    try:
        output.fingerprint = fingerprint(stage, options, inputs)
        _decide(output, overwrite, resumable)
        if start and not output.complete:
            output.start()
        yield output
    except BaseException:
        if new_location and not output.keep:  # nothing worth resuming: leave the location as it was
            output.clear()
            lease.release()
            storage.remove_empty_folders(output.url, keep=existed)
        raise
    finally:
        if output.complete or not keep_lease:
            lease.release()
        else:
            lease.stop()


def _decide(output: Output, overwrite: bool, resumable: frozenset[str] | None) -> None:
    """Set ``complete``/``resumed`` and clear what must go, before the stage writes anything."""
    if overwrite:
        output.clear()
        return
    if commit.is_complete(output.url):
        old = commit.read_marker(output.url).get("fingerprint")
        diff = differences(old, output.fingerprint) if old else []
        if diff:
            raise UserError(f"{output.url} is complete but was made differently ({_describe(diff, old, output.fingerprint)})",
                            "pass --overwrite to redo it, or choose another output location")
        log.info("%s is complete; nothing to do (use --overwrite to redo it)", output.url)
        output.complete = True
        return
    stored = _stored_plan(output.url)
    if resumable is not None and stored is not None:
        diff = differences(stored, output.fingerprint, resumable)
        if diff:
            raise UserError(f"{output.url} holds unfinished work planned differently ({_describe(diff, stored, output.fingerprint)})",
                            "rerun with the same options, or pass --overwrite to start over")
        output.resumed = True
        return
    output.clear()
