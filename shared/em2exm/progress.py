"""Progress for long work: a tqdm bar on a terminal, periodic log lines in pods and batch jobs."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

Item = TypeVar("Item")
log = logging.getLogger("em2exm.progress")


def progress(items: Iterable[Item], total: int | None = None, desc: str = "", every_s: float = 30.0) -> Iterator[Item]:
    """Yield ``items`` while reporting progress the way the current output wants it."""
    if sys.stderr.isatty():
        from tqdm import tqdm

        yield from tqdm(items, total=total, desc=desc, dynamic_ncols=True)
        return
    start = last = time.monotonic()
    done = 0
    for item in items:
        yield item
        done += 1
        now = time.monotonic()
        if now - last >= every_s:
            last = now
            of = f"/{total}" if total else ""
            log.info("%s: %d%s done, %.0f s elapsed", desc, done, of, now - start)
    log.info("%s: %d done in %.1f s", desc, done, time.monotonic() - start)
