"""Open locations by URL through fsspec: plain paths, ``file://``, ``s3://`` and ``memory://``.

S3 settings come from the environment, never from configs or workflows:
``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` for credentials and
``AWS_ENDPOINT_URL`` (or ``EM2EXM_S3_ENDPOINT``) for a non-AWS endpoint such as MinIO or SeaweedFS.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import fsspec
from fsspec.spec import AbstractFileSystem
from zarr.abc.store import Store
from zarr.storage import FsspecStore, LocalStore

from em2exm.errors import UserError

REMOTE_PROTOCOLS = ("s3", "gs", "gcs", "az", "abfs", "http", "https", "memory")


def protocol_of(url: str) -> str:
    """The fsspec protocol of ``url`` (``file`` for plain paths)."""
    return url.split("://", 1)[0] if "://" in url else "file"


def normalise(url: str) -> str:
    """Absolute, slash-free-at-the-end form of a URL or local path (a leading ``//`` is one ``/``)."""
    url = str(url)
    if protocol_of(url) == "file":
        path = os.path.abspath(url.removeprefix("file://"))
        return "/" + path.lstrip("/")
    return url.rstrip("/")


def resolved(url: str) -> str:
    """:func:`normalise` with local symbolic links resolved: where the data really is."""
    return os.path.realpath(normalise(url)) if protocol_of(url) == "file" else normalise(url)


def join(url: str, *parts: str) -> str:
    """Append path parts to a URL or path."""
    return "/".join([normalise(url), *(p.strip("/") for p in parts)])


def storage_options(url: str) -> dict[str, Any]:
    """fsspec keyword arguments for ``url``, read from the environment."""
    if protocol_of(url) != "s3":
        return {}
    options: dict[str, Any] = {
        "config_kwargs": {"connect_timeout": 5, "read_timeout": 60, "retries": {"max_attempts": 3}},
    }
    endpoint = os.environ.get("EM2EXM_S3_ENDPOINT") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        options["endpoint_url"] = endpoint
    if not os.environ.get("AWS_ACCESS_KEY_ID") and not os.environ.get("AWS_PROFILE"):
        options["anon"] = True
    return options


def filesystem(url: str) -> tuple[AbstractFileSystem, str]:
    """The fsspec filesystem and the in-filesystem path of ``url``."""
    url = normalise(url)
    fs, path = fsspec.core.url_to_fs(url, **storage_options(url))
    return fs, path


def zarr_store(url: str, read_only: bool = False) -> Store:
    """A zarr v3 store rooted at ``url``."""
    url = normalise(url)
    if protocol_of(url) == "file":
        return LocalStore(url, read_only=read_only)
    return FsspecStore.from_url(url, storage_options=storage_options(url), read_only=read_only)


def check_reachable(url: str) -> None:
    """Fail early, with a fix, when the storage behind ``url`` cannot be reached."""
    if protocol_of(url) != "s3":
        return
    fs, path = filesystem(url)
    bucket = path.split("/", 1)[0]
    try:
        fs.ls(bucket, refresh=True)
    except FileNotFoundError as exc:
        raise UserError(
            f"bucket '{bucket}' of {url} does not exist",
            "create the bucket first or point the URL at an existing one",
        ) from exc
    except PermissionError as exc:
        raise UserError(
            f"access to {url} was denied",
            "set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY for this bucket",
        ) from exc
    except Exception as exc:  # botocore raises many connection error types
        endpoint = storage_options(url).get("endpoint_url", "the default AWS endpoint")
        raise UserError(
            f"cannot reach object storage for {url} at {endpoint} ({type(exc).__name__})",
            "check AWS_ENDPOINT_URL / EM2EXM_S3_ENDPOINT and that the server is running",
        ) from exc


def exists(url: str) -> bool:
    """Whether something exists at ``url``."""
    fs, path = filesystem(url)
    return bool(fs.exists(path))


def read_bytes(url: str) -> bytes:
    """The whole content of the object at ``url``."""
    fs, path = filesystem(url)
    return bytes(fs.cat_file(path))


def write_bytes(url: str, data: bytes) -> None:
    """Write ``data`` as the object at ``url`` (parents created as needed)."""
    fs, path = filesystem(url)
    parent = path.rsplit("/", 1)[0]
    if parent and protocol_of(url) == "file":
        fs.makedirs(parent, exist_ok=True)
    fs.pipe_file(path, data)


def write_atomic(url: str, data: bytes) -> None:
    """Replace the object at ``url`` in one step, so a kill never leaves a truncated file: locally a synced
    temporary file renamed over it; in an object store one PUT, which is atomic already."""
    if protocol_of(url) != "file":
        write_bytes(url, data)
        return
    path = normalise(url)
    os.replace(_synced_temporary(path, data), path)


def _synced_temporary(path: str, data: bytes) -> str:
    """A new file beside ``path`` holding ``data``, flushed to disk; its name is returned."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}-{threading.get_ident()}"
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return tmp


def remove(url: str) -> None:
    """Delete ``url`` and everything under it, if present."""
    fs, path = filesystem(url)
    if fs.exists(path):
        fs.rm(path, recursive=True)


def list_names(url: str) -> list[str]:
    """Names directly under ``url`` (empty when it does not exist)."""
    fs, path = filesystem(url)
    if not fs.exists(path):
        return []
    return sorted(p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(path, detail=False, refresh=True))


def is_file(url: str) -> bool:
    """Whether ``url`` is a single object or file (not a folder or prefix)."""
    fs, path = filesystem(url)
    try:
        return fs.info(path).get("type") == "file"
    except (FileNotFoundError, NotADirectoryError):
        return False


def create_exclusive(url: str, data: bytes) -> bool:
    """Create the object at ``url`` holding ``data`` only if nothing is there; False when something is.

    One step everywhere: locally a synced temporary file hard-linked into place (``link`` fails when the
    name exists), in S3 a conditional PUT (``If-None-Match: *``), in memory under a process-wide lock."""
    protocol = protocol_of(url)
    if protocol == "file":
        path = normalise(url)
        tmp = _synced_temporary(path, data)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        finally:
            os.unlink(tmp)
        return True
    fs, path = filesystem(url)
    if protocol == "memory":
        with MEMORY_LOCK:
            if fs.exists(path):
                return False
            fs.pipe_file(path, data)
            return True
    try:
        fs.pipe_file(path, data, mode="create")
    except (FileExistsError, OSError):
        if fs.exists(path):
            return False
        raise
    return True


MEMORY_LOCK = threading.RLock()
"""Serialises the check-then-write steps on ``memory://`` objects (conditional create, compare-and-swap)."""


BUCKET_PROTOCOLS = ("s3", "gs", "gcs", "az", "abfs")


def check_url(url: str) -> None:
    """Fail early, with a fix, on a URL no storage can serve: an unknown protocol or an object store without bucket."""
    protocol = protocol_of(url)
    if protocol == "file":
        return
    if protocol not in fsspec.available_protocols():
        raise UserError(f"{url} has an unknown storage protocol '{protocol}://'", "use a path, file://, s3:// or memory://")
    if protocol in BUCKET_PROTOCOLS and not url.split("://", 1)[1].split("/", 1)[0]:
        raise UserError(f"{url} names no bucket", f"write {protocol}://BUCKET/path")
    if any(part in (".", "..") for part in url.split("://", 1)[1].split("/")):
        raise UserError(f"{url} has '.' or '..' path segments, which object stores do not resolve",
                        "write the key without them")


def existing_ancestor(url: str) -> str:
    """The nearest local folder at or above ``url`` that exists (``url`` itself for object stores)."""
    if protocol_of(url) != "file":
        return url
    path = normalise(url)
    while not os.path.isdir(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    return path


def remove_empty_folders(url: str, keep: str) -> None:
    """Remove the local folder at ``url`` and its parents while they are empty, stopping at ``keep``."""
    if protocol_of(url) != "file":
        return
    path, keep = normalise(url), normalise(keep)
    while path != keep and path.startswith(keep.rstrip("/") + "/"):
        try:
            os.rmdir(path)
        except OSError:
            return
        path = os.path.dirname(path)
