"""One writer per output: a lease object ``<output>/.em2exm_lease.json`` with a run id and a heartbeat.

The lease is created with a conditional create (local ``link``, S3 ``If-None-Match: *``) and changed only by
compare-and-swap (local: under ``flock`` of the output folder; S3: ``If-Match`` on the ETag), so of two
processes racing for it exactly one wins.  Rules when the lease is already there:

- held by another run whose heartbeat is fresh: exit 2 naming the holder;
- held by this run (same ``EM2EXM_RUN_ID``) and the caller may *join* (the plan/blocks/finalise tasks of one
  fan-out, whose writes are idempotent): share it;
- held by this run but another live process that may not be joined (an Argo retry racing a slow pod): wait
  until it is released or goes stale;
- stale (no heartbeat for ``EM2EXM_LEASE_TIMEOUT`` seconds, default 600; or the holder was a process of this
  host that no longer exists): taken over.

A holder refreshes its heartbeat from a background thread and checks, before it commits anything, that the lease
is still its own (:meth:`Lease.check`), so a holder whose lease was taken over exits 2 instead of committing.
"""

from __future__ import annotations

import fcntl
import json
import logging
import math
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from em2exm import storage
from em2exm.errors import UserError

LEASE = ".em2exm_lease.json"
RUN_ID_ENV = "EM2EXM_RUN_ID"
TIMEOUT_ENV = "EM2EXM_LEASE_TIMEOUT"
DEFAULT_TIMEOUT_S = 600.0
MIN_TIMEOUT_S = 1.0
log = logging.getLogger("em2exm.lease")
_PROCESS_RUN_ID = f"pid-{uuid.uuid4().hex[:12]}"


def run_id() -> str:
    """This process's run id: ``EM2EXM_RUN_ID`` (set by the runner and the workflow backends) or a fresh one."""
    return os.environ.get(RUN_ID_ENV) or _PROCESS_RUN_ID


def timeout_s() -> float:
    """Seconds without a heartbeat after which a lease may be taken over."""
    text = os.environ.get(TIMEOUT_ENV, "")
    try:
        value = float(text) if text else DEFAULT_TIMEOUT_S
    except ValueError as exc:
        raise UserError(f"{TIMEOUT_ENV}={text!r} is not a number of seconds", f"set {TIMEOUT_ENV}=600") from exc
    if not math.isfinite(value) or value < MIN_TIMEOUT_S:
        raise UserError(f"{TIMEOUT_ENV}={text} must be a finite number of seconds >= {MIN_TIMEOUT_S:g}",
                        f"set {TIMEOUT_ENV}=600")
    return value


class _Slot:
    """Compare-and-swap access to one small object; ``token`` identifies the version that was read."""

    def __init__(self, url: str) -> None:
        self.url = url

    def read(self) -> tuple[dict[str, Any] | None, Any]:
        try:
            data = storage.read_bytes(self.url)
        except FileNotFoundError:
            return None, None
        return _decode(data), data

    def create(self, record: dict[str, Any]) -> bool:
        return storage.create_exclusive(self.url, _encode(record))

    def replace(self, record: dict[str, Any], token: Any) -> bool:
        with self._locked():
            if self._current() != token:
                return False
            storage.write_atomic(self.url, _encode(record))
            return True

    def delete(self, token: Any) -> None:
        with self._locked():
            if self._current() == token:
                storage.remove(self.url)

    def _current(self) -> bytes | None:
        try:
            return storage.read_bytes(self.url)
        except FileNotFoundError:
            return None

    def _locked(self) -> Any:
        return _FolderLock(self.url) if storage.protocol_of(self.url) == "file" else storage.MEMORY_LOCK


class _S3Slot(_Slot):
    """The same over S3, with the ETag as the token and ``If-Match`` for the swap."""

    def read(self) -> tuple[dict[str, Any] | None, Any]:
        fs, path = storage.filesystem(self.url)
        try:
            etag = fs.info(path, refresh=True)["ETag"]
            data = fs.cat_file(path)
        except FileNotFoundError:
            return None, None
        return _decode(data), etag

    def replace(self, record: dict[str, Any], token: Any) -> bool:
        fs, path = storage.filesystem(self.url)
        bucket, key = path.split("/", 1)
        try:
            fs.call_s3("put_object", Bucket=bucket, Key=key, Body=_encode(record), IfMatch=token)
        except (OSError, FileNotFoundError):
            return False
        fs.invalidate_cache(path)
        return True

    def delete(self, token: Any) -> None:
        _, current = self.read()
        if current == token:
            storage.remove(self.url)


class _FolderLock:
    """``flock`` on the folder that holds a local lease, for read-compare-write in one step."""

    def __init__(self, url: str) -> None:
        self.folder = os.path.dirname(storage.normalise(url))
        self.fd = -1

    def __enter__(self) -> None:
        self.fd = os.open(self.folder, os.O_RDONLY)
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def _encode(record: dict[str, Any]) -> bytes:
    return json.dumps(record, sort_keys=True).encode()


FIELDS: dict[str, type | tuple[type, ...]] = {"run_id": str, "host": str, "pid": int, "stage": str, "heartbeat": (int, float)}


def _decode(data: bytes) -> dict[str, Any] | None:
    """The lease record, or None when it is unreadable (a torn write, or not ours): such a lease is replaced."""
    try:
        record = json.loads(data)
    except ValueError:
        return None
    if not isinstance(record, dict) or not all(isinstance(record.get(k), t) for k, t in FIELDS.items()):
        return None
    return record if math.isfinite(record["heartbeat"]) else None


def _pid_namespace() -> str:
    """This process's pid namespace (containers on one host name may each have their own)."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def _alive_here(record: dict[str, Any]) -> bool:
    """False only when the holder was a process of this host (and pid namespace) that has exited."""
    if record.get("host") != socket.gethostname() or record.get("pidns", "") != _pid_namespace():
        return True
    try:
        os.kill(int(record.get("pid", 0)), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, OverflowError):
        return True
    return True


@dataclass
class Holder:
    """Who holds a lease, as read from it."""

    run_id: str
    host: str
    pid: int
    stage: str
    age_s: float

    def describe(self) -> str:
        return f"run {self.run_id} ({self.stage}, pid {self.pid} on {self.host}, last heartbeat {max(self.age_s, 0):.0f} s ago)"


class Lease:
    """This process's lease on one output location."""

    def __init__(self, output: str, stage: str, joinable: bool) -> None:
        self.output = output
        self.stage = stage
        self.joinable = joinable
        self.run_id = run_id()
        self.timeout = timeout_s()
        self.slot = (_S3Slot if storage.protocol_of(output) == "s3" else _Slot)(storage.join(output, LEASE))
        self.lost = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _record(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "host": socket.gethostname(), "pid": os.getpid(), "pidns": _pid_namespace(),
                "stage": self.stage, "heartbeat": time.time()}

    def _mine(self, record: dict[str, Any] | None) -> bool:
        if not record:
            return False
        return record.get("run_id") == self.run_id and (
            self.joinable or (record.get("host"), record.get("pid")) == (socket.gethostname(), os.getpid()))

    def acquire(self) -> None:
        """Take the lease (or join this run's), waiting only for another task of this same run."""
        while True:
            record, token = self.slot.read()
            if record is None:
                if token is not None:  # unreadable: a torn write by a killed process; replace it
                    if self.slot.replace(self._record(), token):
                        break
                elif self.slot.create(self._record()):
                    break
                continue
            if self._mine(record):
                if self.slot.replace(self._record(), token):
                    break
                continue
            holder = self._holder(record)
            if holder.age_s > self.timeout or not _alive_here(record):
                log.warning("taking over the lease of %s on %s", holder.describe(), self.output)
                if self.slot.replace(self._record(), token):
                    break
                continue
            if holder.run_id != self.run_id:
                raise UserError(
                    f"{self.output} is being written by {holder.describe()}",
                    f"wait for that run to finish or stop it; a lease without heartbeat for {self.timeout:.0f} s "
                    f"({TIMEOUT_ENV}) is taken over",
                )
            log.info("waiting for %s to release %s", holder.describe(), self.output)
            time.sleep(min(5.0, self.timeout / 10))
        self._start_heartbeat()

    def _holder(self, record: dict[str, Any]) -> Holder:
        return Holder(str(record.get("run_id")), str(record.get("host")), int(record.get("pid", 0)),
                      str(record.get("stage")), time.time() - float(record.get("heartbeat", 0)))

    def _start_heartbeat(self) -> None:
        self._thread = threading.Thread(target=self._beat, name="em2exm-lease", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        interval = max(0.5, self.timeout / 10)
        while not self._stop.wait(interval):
            try:
                record, token = self.slot.read()
                if not self._mine(record):
                    self.lost = True
                    log.error("lost the lease on %s to %s", self.output, record)
                    return
                self.slot.replace(self._record(), token)
            except Exception as exc:  # noqa: BLE001 - a storage hiccup: try again at the next beat
                log.warning("lease heartbeat on %s failed (%s); retrying", self.output, exc)

    def holds(self) -> bool:
        """Whether the lease is (still) this run's, without raising."""
        if self.lost:
            return False
        record, _ = self.slot.read()
        return self._mine(record)

    def check(self) -> None:
        """Raise unless the lease is still this run's (call before committing anything)."""
        record, _ = self.slot.read()
        if self.lost or not self._mine(record):
            self.lost = True
            taker = self._holder(record).describe() if record else "nobody (it was removed)"
            raise UserError(f"the lease on {self.output} is now held by {taker}; this task's work is not committed",
                            "rerun once the other run has finished")

    def stop(self) -> None:
        """Stop the heartbeat, keeping the lease (for the next task of this fan-out)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def release(self) -> None:
        """Stop the heartbeat and remove the lease if it is still this run's."""
        self.stop()
        record, token = self.slot.read()
        if self._mine(record):
            self.slot.delete(token)
