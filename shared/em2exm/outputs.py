"""Claiming an output location: what em2exm may write, delete and resume there.

An output location belongs to em2exm only where em2exm's own marker or metadata is (a ``.em2exm*`` object,
or a ``zarr.json`` whose attributes carry ``em2exm``).  A location that holds anything else is the user's: it is
never written to, ``--overwrite`` or not.  An em2exm location made by another stage is refused too.  In an em2exm
location, a fresh start or ``--overwrite`` removes only the stage's declared *products* (top-level names or
patterns, or one label image ``labels/<name>``) and em2exm's markers, so anything the user put beside them
survives (other label images included).

:func:`claim` also refuses outputs that equal, contain or lie inside an input (symbolic links resolved), takes the
location's lease (one writer, :mod:`em2exm.lease`), and records the work's fingerprint
(:mod:`em2exm.fingerprints`): a complete output made with another fingerprint, or an unfinished one resumed with
another, is exit 2 naming what differs (``redo="if-changed"``, the local runner's ``--update``, redoes it instead),
never a silent mix.
"""

from __future__ import annotations

import fnmatch
import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from em2exm import commit, faults, ome, storage
from em2exm.errors import UserError
from em2exm.fingerprints import describe, differences, fingerprint
from em2exm.lease import LEASE, Lease

PLAN = ".em2exm_plan.json"
OWN_PREFIX = ".em2exm"
ZARR_JSON = "zarr.json"
Redo = Literal["never", "if-changed", "always"]
"""When a stage redoes an output em2exm already wrote: never (a changed one is exit 2), if it was made with
other options or inputs (``--update``), or always (``--overwrite``)."""
log = logging.getLogger("em2exm.outputs")


def _inside(inner: str, outer: str) -> bool:
    return inner == outer or inner.startswith(outer.rstrip("/") + "/")


def check_separate(output: str, inputs: Mapping[str, str | None]) -> None:
    """Exit 2 when ``output`` equals, contains or lies inside one of the ``inputs`` (local links resolved)."""
    out = storage.resolved(output)
    if out in ("/", "") or out.endswith("://"):
        raise UserError(f"the output location {output!r} is the root of its storage", "pass a folder or URL for the output")
    for name, url in inputs.items():
        if not url:
            continue
        source = storage.resolved(url)
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


@dataclass
class Output:
    """A claimed output location: this process holds its lease until the ``with`` block ends."""

    url: str
    stage: str
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
            if name != LEASE and (name.startswith(OWN_PREFIX) or any(fnmatch.fnmatchcase(name, p) for p in self.products)):
                storage.remove(storage.join(self.url, name))
        for product in self.products:
            if product.startswith("labels/"):
                ome.remove_labels(self.url, product.removeprefix("labels/"))

    def start(self) -> None:
        """Record the fingerprint of the work under way, once what a resume needs exists (resume compares against it)."""
        storage.write_atomic(storage.join(self.url, PLAN), json.dumps(self.fingerprint, indent=1).encode())

    def check(self) -> None:
        """Exit 2 if another run took the lease over (call before committing a block or the output)."""
        self.lease.check()

    def commit(self, info: Mapping[str, Any] | None = None) -> None:
        """Mark the output complete, with its fingerprint, after all of its data is written."""
        self.check()
        commit.mark_complete(self.url, {**(info or {}), "stage": self.stage, "fingerprint": self.fingerprint})


def planned(url: str) -> bool:
    """Whether work at ``url`` was planned (prepared, with its fingerprint recorded) or is complete."""
    return storage.exists(storage.join(url, PLAN)) or commit.is_complete(url)


def _stored_plan(url: str) -> dict[str, Any] | None:
    try:
        return json.loads(storage.read_bytes(storage.join(url, PLAN)))
    except (FileNotFoundError, ValueError):
        return None


def _made_by(url: str) -> str | None:
    """The stage that wrote the em2exm output at ``url``, as its records say."""
    records = [_stored_plan(url) or {}]
    if commit.is_complete(url):
        marker = commit.read_marker(url)
        records += [marker.get("fingerprint") or {}, marker]
    return next((r["stage"] for r in records if isinstance(r.get("stage"), str)), None)


@contextmanager
def claim(
    url: str,
    *,
    stage: str,
    options: BaseModel | Mapping[str, Any],
    inputs: Mapping[str, str | None],
    products: Sequence[str],
    redo: Redo,
    resumable: frozenset[str] | None = None,
    joinable: bool = False,
    keep_lease: bool = False,
    start: bool = True,
    watch: Mapping[str, str] | None = None,
) -> Iterator[Output]:
    """Claim ``url`` for ``stage`` and yield it; ``output.complete`` means there is nothing to do.

    ``resumable``: None for a stage that restarts unfinished work from scratch; else the option names that may
    change when unfinished work is resumed (any other difference is exit 2).  ``joinable``/``keep_lease``: for the
    tasks of one blockwise fan-out, which share this run's lease and leave it for the next task.  ``start``: record
    the fingerprint at once (a stage that must prepare first calls :meth:`Output.start` itself).  ``watch``: more
    inputs whose identity is part of the fingerprint but which may contain the output (a run's report)."""
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
    output = Output(storage.normalise(url), stage, tuple(products), lease, {}, keep=resumable is not None)
    try:
        made_by = _made_by(output.url)
        if made_by not in (None, stage):
            raise UserError(f"{output.url} was written by em2exm {made_by}, not {stage}",
                            "choose another output location: one stage's output is never replaced by another's")
        output.fingerprint = fingerprint(stage, options, {**inputs, **(watch or {})})
        _decide(output, redo, resumable)
        if start and not output.complete:
            output.start()
        yield output
    except BaseException:
        if new_location and not output.keep and lease.holds():  # nothing worth resuming: leave the location as it was
            output.clear()
            lease.release()
            storage.remove_empty_folders(output.url, keep=existed)
        raise
    finally:
        if output.complete or not keep_lease:
            lease.release()
        else:
            lease.stop()


def _decide(output: Output, redo: Redo, resumable: frozenset[str] | None) -> None:
    """Set ``complete``/``resumed`` and clear what must go, before the stage writes anything."""
    if redo == "always":
        output.clear()
        return
    if commit.is_complete(output.url):
        old = commit.read_marker(output.url).get("fingerprint")
        diff = differences(old, output.fingerprint)
        if not diff:
            log.info("%s is complete; nothing to do (use --overwrite to redo it)", output.url)
            output.complete = True
            return
        if redo == "never":
            raise UserError(f"{output.url} is complete but was made differently ({describe(diff, old, output.fingerprint)})",
                            "pass --overwrite to redo it, or choose another output location")
        log.info("redoing %s: %s", output.url, describe(diff, old, output.fingerprint))
        output.clear()
        return
    stored = _stored_plan(output.url)
    if resumable is not None and stored is not None:
        diff = differences(stored, output.fingerprint, resumable)
        if not diff:
            output.resumed = True
            return
        if redo == "never":
            raise UserError(f"{output.url} holds unfinished work planned differently ({describe(diff, stored, output.fingerprint)})",
                            "rerun with the same options, or pass --overwrite to start over")
        log.info("starting %s over: %s", output.url, describe(diff, stored, output.fingerprint))
    output.clear()
