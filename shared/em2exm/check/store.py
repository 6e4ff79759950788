"""The run's store: reachable (S3 endpoint and credentials), writable (a probe object created and deleted),
and its free space where the storage can tell."""

from __future__ import annotations

import os
import shutil
import uuid

from em2exm import storage
from em2exm.check.report import Report
from em2exm.errors import UserError

PROBE = ".em2exm_check_probe-"
GIB = 2**30


def _local_target(path: str) -> tuple[str, bool]:
    """The nearest existing path at or above ``path`` and whether it is ``path`` itself."""
    current = path
    while not os.path.lexists(current) and os.path.dirname(current) != current:
        current = os.path.dirname(current)
    return current, current == path


def _probe(url: str) -> None:
    """Create and delete an object of em2exm's own under ``url`` (never one that exists already)."""
    probe = storage.join(url, PROBE + uuid.uuid4().hex[:12])
    if not storage.create_exclusive(probe, b"em2exm check"):
        raise OSError(f"{probe} exists")
    storage.remove(probe)


def _writable_local(report: Report, url: str) -> str | None:
    """Report whether a local store can be written; return the existing folder whose free space counts."""
    path = storage.normalise(url)
    existing, is_store = _local_target(path)
    if not os.path.isdir(existing):
        where = "is a file" if is_store else f"lies under the file {existing}"
        report.fail("store", f"the store {path} {where} -- fix: set run.store to a folder")
        return None
    if not is_store:  # creating the store here would change the folder above it: ask the file system instead
        if not os.access(existing, os.W_OK | os.X_OK):
            report.fail("store", f"the store {path} cannot be created: {existing} is not writable -- fix: set "
                                 "run.store to a folder you can write to")
            return None
        report.ok("store", f"{path} does not exist yet; {existing} is writable")
        return existing
    try:
        _probe(path)
    except OSError as exc:
        report.fail("store", f"cannot write to the store {path} ({exc.strerror or exc}) -- fix: set run.store to a "
                             "folder you can write to")
        return None
    report.ok("store", f"{path} is writable (a probe file was created and deleted)")
    return path


def _writable_remote(report: Report, url: str) -> bool:
    """Report whether an object store location is reachable and writable."""
    try:
        storage.check_reachable(url)
    except UserError as exc:
        report.error("store", exc)
        return False
    try:
        _probe(url)
    except Exception as exc:  # noqa: BLE001 - botocore and fsspec raise many types for a refused write
        report.fail("store", f"cannot write to the store {url} ({type(exc).__name__}: {exc}) -- fix: give the "
                             "credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY) write access to it")
        return False
    endpoint = storage.storage_options(url).get("endpoint_url", "the default endpoint")
    anonymous = " anonymously (no AWS_ACCESS_KEY_ID)" if storage.storage_options(url).get("anon") else ""
    report.ok("store", f"{url} at {endpoint} is writable{anonymous} (a probe object was created and deleted)")
    return True


def check_store(report: Report, url: str, need_bytes: int | None) -> None:
    """Reachable, writable, and (on local disks) enough free space for ``need_bytes`` (a rough upper bound)."""
    try:
        storage.check_url(url)
    except UserError as exc:
        report.error("store", exc)
        return
    if storage.protocol_of(url) != "file":
        if _writable_remote(report, url):
            report.ok("space", f"free space of {storage.protocol_of(url)}:// stores is not knowable; the run writes "
                               f"at most ~{_gib(need_bytes)} uncompressed")
        return
    folder = _writable_local(report, url)
    if folder is None:
        return
    free = shutil.disk_usage(folder).free
    text = f"{free / GIB:.1f} GiB free at {folder}; the run writes at most ~{_gib(need_bytes)} uncompressed"
    if need_bytes is not None and free < need_bytes:
        report.warn("space", text + " (compression usually makes it less)")
    else:
        report.ok("space", text)


def _gib(size: int | None) -> str:
    return "? GiB (input shapes unknown)" if size is None else f"{size / GIB:.2f} GiB"
