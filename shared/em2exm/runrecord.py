"""What `em2exm run` records about a run beside its outputs, under ``<store>/.em2exm_run/``:

    run.json           the validated pipeline config of the latest `em2exm run` (so `em2exm status STORE` can
                       rebuild the steps), its name and config file
    steps/<step>.json  the latest attempt at each step: start, end, exit code, run id, host

Records are written only into a store that exists already, so a run whose first step is refused (bad input)
leaves nothing behind, as every stage does.  They never go inside an output location: an output that is not
em2exm's must not look as if it were.
"""

from __future__ import annotations

import json
import socket
import time
from typing import TYPE_CHECKING, Any

from em2exm import storage

if TYPE_CHECKING:
    from em2exm.pipeline import Step
    from em2exm.pipeline_config import PipelineConfig

RECORDS = ".em2exm_run"
RUN = "run.json"
STEPS = "steps"


def run_url(store: str) -> str:
    """Where the run record of ``store`` lives."""
    return storage.join(store, RECORDS, RUN)


def attempt_url(store: str, step: str) -> str:
    """Where the latest attempt at ``step`` is recorded."""
    return storage.join(store, RECORDS, STEPS, f"{step}.json")


def _read(url: str) -> dict[str, Any] | None:
    try:
        record = json.loads(storage.read_bytes(url))
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def remember_run(config: PipelineConfig, config_file: str) -> bool:
    """Record the run's config in its store, if the store exists; whether it was written."""
    store = config.run.store
    if not storage.exists(store):
        return False
    record = {"name": config.run.name, "config_file": storage.normalise(config_file), "time": time.time(),
              "config": config.model_dump(mode="json")}
    storage.write_atomic(run_url(store), json.dumps(record, indent=1).encode())
    return True


def remember_attempt(store: str, step: Step, start: float, end: float, code: int, run_id: str) -> None:
    """Record one attempt at ``step`` (exit ``code``), if the store exists."""
    if not storage.exists(store):
        return
    record = {"step": step.name, "stage": step.stage, "start": start, "end": end, "exit_code": code,
              "run_id": run_id, "host": socket.gethostname()}
    storage.write_atomic(attempt_url(store, step.name), json.dumps(record, indent=1).encode())


class Recorder:
    """The records of one `em2exm run`: its config as soon as the store exists, then every step attempt."""

    def __init__(self, config: PipelineConfig, config_file: str) -> None:
        self.config, self.config_file = config, config_file
        self.written = remember_run(config, config_file)

    def attempt(self, step: Step, start: float, end: float, code: int, run_id: str) -> None:
        """Record an attempt at ``step`` (and the run, once the store exists)."""
        if not self.written:
            self.written = remember_run(self.config, self.config_file)
        remember_attempt(self.config.run.store, step, start, end, code, run_id)


def read_run(store: str) -> dict[str, Any] | None:
    """The run record of ``store`` (None without one)."""
    return _read(run_url(store))


def read_attempt(store: str, step: str) -> dict[str, Any] | None:
    """The latest recorded attempt at ``step`` (None without one)."""
    return _read(attempt_url(store, step))
