"""The files of a ``ccgan-train`` output folder: atomic checkpoint writes, the loss log, TensorBoard scalars."""

from __future__ import annotations

import json
import logging
from typing import Any

from em2exm import storage

LOSSES = "losses.jsonl"
SAMPLES = "samples"
TENSORBOARD = "tensorboard"

log = logging.getLogger("em2exm.ccgan")


class LossLog:
    """Mean losses per log interval as JSON lines ``{"iteration": i, "<name>": value, ...}``.

    The whole file is rewritten on each record (object stores cannot append); on resume the records after
    the checkpoint's iteration are dropped, as those iterations run again.
    """

    def __init__(self, url: str, iteration: int = 0) -> None:
        self.url = url
        self.records: list[dict[str, Any]] = []
        if iteration and storage.exists(url):
            lines = storage.read_bytes(url).decode().splitlines()
            self.records = [r for r in map(json.loads, filter(str.strip, lines)) if r["iteration"] <= iteration]
        self._sums: dict[str, float] = {}
        self._count = 0

    def add(self, losses: dict[str, float]) -> None:
        """Accumulate one iteration's losses."""
        for name, value in losses.items():
            self._sums[name] = self._sums.get(name, 0.0) + value
        self._count += 1

    def write(self, iteration: int) -> dict[str, Any]:
        """Append the means since the last record, rewrite the file and return the new record."""
        record = {"iteration": iteration, **{k: v / max(self._count, 1) for k, v in self._sums.items()}}
        self.records.append(record)
        self._sums, self._count = {}, 0
        storage.write_atomic(self.url, "".join(json.dumps(r) + "\n" for r in self.records).encode())
        return record


class Scalars:
    """TensorBoard scalars under ``<output>/tensorboard`` for a local output; nothing (said once) for remote ones."""

    def __init__(self, output: str, iteration: int) -> None:
        self.writer = None
        if storage.protocol_of(output) != "file":
            log.info("TensorBoard scalars are written for local outputs only; skipped for %s", output)
            return
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(storage.join(output, TENSORBOARD), purge_step=iteration or None)

    def add(self, record: dict[str, Any]) -> None:
        """Log one loss record at its iteration."""
        if self.writer is None:
            return
        for name, value in record.items():
            if name != "iteration":
                self.writer.add_scalar(f"ccgan/{name}", value, record["iteration"])
        self.writer.flush()

    def close(self) -> None:
        """Flush and close the event file."""
        if self.writer is not None:
            self.writer.close()
