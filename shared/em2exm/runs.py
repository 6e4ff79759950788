"""``em2exm runs STORE``: the runs under a store, by name, with steps done, best experiment, its AP@0.5 and VOI.

STORE is a folder or s3:// prefix holding run stores.  A run is a folder holding the record of `em2exm run` (then its steps are counted) or em2exm's ingested volumes
(then only its scores are known); STORE itself is listed when it is a run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from em2exm import commit, runrecord, storage
from em2exm.errors import UserError
from em2exm.layout import RunLayout
from em2exm.ranking import best_experiment
from em2exm.report import read_metrics
from em2exm.stagekit import _Parser
from em2exm.status import load_run, run_status


@dataclass
class RunSummary:
    """One line of the listing."""

    name: str
    store: str
    done: int | None
    total: int | None
    best: str | None
    ap: float | None
    voi: float | None


def is_run(url: str) -> bool:
    """Whether ``url`` holds a run: the record of `em2exm run`, or an ingested volume em2exm committed."""
    at = RunLayout(url)
    return runrecord.read_run(url) is not None or commit.is_complete(at.em) or commit.is_complete(at.exm)


def summarise(url: str) -> RunSummary:
    """The listing line of the run at ``url``."""
    name, done, total, metrics = url.rstrip("/").rsplit("/", 1)[-1], None, None, read_metrics(url)
    if runrecord.read_run(url) is not None:
        try:
            status = run_status(load_run(url))
        except UserError:  # a record this em2exm cannot rebuild the steps from: list its scores only
            status = None
        if status is not None:
            name, done, total, metrics = status.name, status.done, len(status.steps), status.metrics
    best = best_experiment(metrics)
    row = metrics.get(best, {}) if best else {}
    return RunSummary(name, storage.normalise(url), done, total, best, row.get("ap@0.5"), row.get("voi"))


def list_runs(store: str) -> list[RunSummary]:
    """Every run at or directly under ``store``, sorted by name; exit 2 when there is none."""
    storage.check_url(store)
    storage.check_reachable(store)
    if not storage.exists(store) or storage.is_file(store):
        raise UserError(f"store {store} is not a folder or prefix that exists",
                        "pass the folder or s3:// prefix that holds your runs (the parent of a run.store)")
    candidates = [store] + [storage.join(store, name) for name in storage.list_names(store) if not name.startswith(".")]
    runs = [summarise(url) for url in candidates if is_run(url)]
    if not runs:
        raise UserError(f"{store} holds no em2exm runs",
                        "pass the folder or s3:// prefix that holds run stores (each made by em2exm run)")
    return sorted(runs, key=lambda run: run.name)


def _cell(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def render(runs: Sequence[RunSummary]) -> str:
    """One line per run: name, steps done, best experiment, AP@0.5, VOI, store."""
    width = max(4, *(len(run.name) for run in runs))
    lines = [f"{'name':<{width}}  {'steps':>7}  {'best':<10}  {'AP@0.5':>6}  {'VOI':>6}  store"]
    for run in runs:
        steps = "—" if run.total is None else f"{run.done}/{run.total}"
        lines.append(f"{run.name:<{width}}  {steps:>7}  {run.best or '—':<10}  {_cell(run.ap):>6}  {_cell(run.voi):>6}  "
                     f"{run.store}")
    return "\n".join(lines)


def to_json(runs: Sequence[RunSummary]) -> list[dict[str, Any]]:
    return [asdict(run) for run in runs]


def main(argv: Sequence[str]) -> None:
    parser = _Parser(prog="em2exm runs", description=__doc__.splitlines()[0])
    parser.add_argument("store", help="a folder or s3:// prefix holding run stores (e.g. runs)")
    parser.add_argument("--json", action="store_true", help="print the runs as a JSON list")
    args = parser.parse_args(argv)
    runs = list_runs(args.store)
    print(json.dumps(to_json(runs), indent=1) if args.json else render(runs))
