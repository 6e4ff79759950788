"""Deterministic fault injection for kill/race tests: ``EM2EXM_FAULT=<point>:<n>:<action>``.

At the ``n``-th time (1-based) this process passes ``point``, ``action`` happens: ``kill`` (SIGKILL itself,
as the OOM killer or a preempted node would) or ``sleep<seconds>`` (hold still, e.g. while holding a lease).
Unset (always, outside tests) it costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter

FAULT_ENV = "EM2EXM_FAULT"
_passes: Counter[str] = Counter()


def point(name: str) -> None:
    """Mark a point where a test may kill or pause this process."""
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return
    target, count, action = spec.split(":")
    if target != name:
        return
    _passes[name] += 1
    if _passes[name] != int(count):
        return
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action.startswith("sleep"):
        time.sleep(float(action.removeprefix("sleep")))
