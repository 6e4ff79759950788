"""``em2exm status RUN``: every step of a run with its state, wall time, and the run's experiment table.

RUN is a run's store (a folder or s3:// prefix that `em2exm run` recorded its config in) or the pipeline YAML.
A step's state comes from what its outputs hold, whichever backend ran it: done (every output committed), running
(an output's lease is fresh), failed (the latest attempt `em2exm run` recorded exited non-zero), partial (work was
planned: k of n blocks for a blockwise step), not started.  Wall time is the recorded attempt's, else the time from
an output's plan to its commit.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from em2exm import commit, outputs, runrecord, storage
from em2exm.config import load_pipeline, validate
from em2exm.errors import UserError
from em2exm.lease import LEASE, _alive_here, timeout_s
from em2exm.pipeline import Step, build_pipeline
from em2exm.pipeline_config import PipelineConfig
from em2exm.ranking import best_experiment
from em2exm.report import COLUMNS, experiment_table, read_metrics
from em2exm.stagekit import _Parser

DONE, RUNNING, FAILED, PARTIAL, NOT_STARTED = "done", "running", "failed", "partial", "not started"


@dataclass
class StepStatus:
    """Where one step stands."""

    name: str
    stage: str
    state: str
    blocks_done: int | None = None
    blocks_total: int | None = None
    passes: list[str] = field(default_factory=list)
    """The state of each pass a stage runs after its blocks (decode): ``merge done``, ``flood 3 of 8``, ..."""
    exit_code: int | None = None
    wall_s: float | None = None
    writer: str | None = None
    """Who holds a running step's lease."""

    def describe(self) -> str:
        """The state as one short phrase, e.g. ``partial (3 of 8 blocks)``."""
        details = [f"exit {self.exit_code}"] if self.state == FAILED else []
        if self.blocks_total is not None and self.state != DONE:
            details.append(f"{self.blocks_done or 0} of {self.blocks_total} blocks")
            details += self.passes
        return self.state + (f" ({', '.join(details)})" if details else "")


@dataclass
class RunStatus:
    """Every step of a run, and its scores."""

    name: str
    store: str
    steps: list[StepStatus]
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    best: str | None = None

    @property
    def done(self) -> int:
        return sum(step.state == DONE for step in self.steps)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "store": self.store, "done": self.done, "total": len(self.steps),
                "steps": [asdict(step) for step in self.steps], "metrics": self.metrics, "best": self.best}


def load_run(run: str) -> PipelineConfig:
    """The pipeline config of ``run``: a pipeline YAML, or a store holding the record of `em2exm run` (the store
    as given replaces the recorded one, so a moved or copied run reads where it is now)."""
    storage.check_url(run)
    storage.check_reachable(run)
    if storage.is_file(run):
        return load_pipeline(run)
    if not storage.exists(run):
        raise UserError(f"run {run} does not exist", "pass a run's store (run.store of its config) or its pipeline YAML")
    record = runrecord.read_run(run)
    if record is None:
        raise UserError(f"{run} holds no run record ({runrecord.RECORDS}/{runrecord.RUN}, written by em2exm run)",
                        "pass the run's pipeline YAML instead: em2exm status pipeline.yaml")
    config = validate(PipelineConfig, record.get("config") or {}, runrecord.run_url(run))
    config.run.store = storage.normalise(run)
    return config


def _modified(url: str) -> float | None:
    """When the object at ``url`` was last written (None when absent)."""
    fs, path = storage.filesystem(url)
    try:
        info = fs.info(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    value = info.get("mtime") or info.get("LastModified")
    return value.timestamp() if isinstance(value, datetime) else float(value) if value else None


def _plan(url: str) -> dict[str, Any]:
    try:
        return json.loads(storage.read_bytes(storage.join(url, outputs.PLAN)))
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return {}


def planned_blocks(url: str) -> int | None:
    """How many blocks the plan of a blockwise output has: its block grid over the planned volume (the last three
    axes of ``plan.shape``, in blocks of ``block``)."""
    plan = _plan(url)
    shape, block = plan.get("options.plan.shape"), plan.get("options.block")
    if not shape or not block or len(shape) < 3 or len(block) != 3:
        return None
    return math.prod(-(-int(s) // max(1, int(b))) for s, b in zip(shape[-3:], block))


def _writer(url: str) -> str | None:
    """Who is writing the output at ``url`` now: the holder of a fresh lease whose process may be alive."""
    try:
        lease = json.loads(storage.read_bytes(storage.join(url, LEASE)))
        age = time.time() - float(lease["heartbeat"])
    except (FileNotFoundError, NotADirectoryError, ValueError, TypeError, KeyError):
        return None
    if age > timeout_s() or not _alive_here(lease):
        return None
    return f"run {lease.get('run_id')}, pid {lease.get('pid')} on {lease.get('host')}"


def _passes(step: Step, url: str, total: int | None) -> list[str]:
    """``merge done``, ``flood round 2: 3 of 8``, ``flood settled after 3 rounds``: each pass the stage has begun
    (decode), in order."""
    states = []
    settled = {p.settles: p.name for p in step.spec.passes if p.settles}
    for later in step.spec.passes:
        if later.name in settled and commit.read_pass(url, settled[later.name]) is not None:
            continue  # its settle pass reports it
        if later.fanned:
            rounds = commit.current_round(url, later.name) if later.name in settled else None
            done = len(commit.done_blocks(url, commit.pass_folder(later.name, rounds)))
            if not done and not rounds:
                break
            states.append(f"{later.name}{'' if rounds is None else f' round {rounds + 1}:'} {done} of {total}")
        elif commit.read_pass(url, later.name) is None:
            break
        elif later.settles:
            states.append(f"{later.settles} settled after {commit.current_round(url, later.settles) + 1} rounds")
        else:
            states.append(f"{later.name} done")
    return states


def step_status(step: Step, store: str) -> StepStatus:
    """The state of ``step`` from its outputs and the latest attempt `em2exm run` recorded."""
    status = StepStatus(step.name, step.stage, NOT_STARTED)
    attempt = runrecord.read_attempt(store, step.name) or {}
    complete = [commit.is_complete(url) for url in step.outputs]
    markers = [commit.read_marker(url) for url, done in zip(step.outputs, complete) if done]
    if step.fanout > 0:
        url = step.outputs[0]
        status.blocks_done = len(commit.done_blocks(url))
        status.blocks_total = markers[0].get("blocks") if markers else planned_blocks(url)
        status.passes = _passes(step, url, status.blocks_total)
    committed = max((float(m.get("time", 0)) for m in markers), default=None)
    failed_after = attempt.get("exit_code") not in (None, 0) and (committed is None or attempt["start"] > committed)
    if all(complete) and not failed_after:
        status.state, status.wall_s = DONE, _done_wall(step, attempt, committed)
        return status
    status.writer = next((w for w in map(_writer, step.outputs) if w), None)
    if status.writer:
        status.state = RUNNING
        started = _modified(storage.join(step.outputs[0], outputs.PLAN))
        status.wall_s = time.time() - started if started else None
    elif failed_after:
        status.state, status.exit_code = FAILED, int(attempt["exit_code"])
        status.wall_s = float(attempt["end"]) - float(attempt["start"])
    elif any(outputs.planned(url) or commit.done_blocks(url) for url in step.outputs):
        status.state = PARTIAL
    return status


def _done_wall(step: Step, attempt: dict[str, Any], committed: float | None) -> float | None:
    """The recorded attempt that made the outputs, else the time from the earliest plan to the last commit."""
    if committed is not None and attempt.get("exit_code") == 0 and attempt["start"] <= committed <= attempt["end"]:
        return float(attempt["end"]) - float(attempt["start"])
    plans = [t for t in (_modified(storage.join(url, outputs.PLAN)) for url in step.outputs) if t is not None]
    return committed - min(plans) if plans and committed is not None else None


def run_status(config: PipelineConfig) -> RunStatus:
    """Where every step of the run of ``config`` stands, with its experiments' scores."""
    store = config.run.store
    steps = [step_status(step, store) for step in build_pipeline(config).steps]
    metrics = read_metrics(store)
    shown = {name: {key: row[key] for key, _, _ in COLUMNS if key in row} for name, row in metrics.items()}
    return RunStatus(str(config.run.name), storage.normalise(store), steps, shown, best_experiment(metrics))


def duration(seconds: float | None) -> str:
    """A wall time for people: ``12.3 s``, ``4 min 05 s``, ``2 h 07 min``; ``—`` when unknown."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min {int(seconds % 60):02d} s"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def best_line(status: RunStatus) -> str:
    """``best: <experiment> (AP@0.5 ..., VOI ...)``, or an empty string without scores."""
    if status.best is None:
        return ""
    row = status.metrics[status.best]
    scores = ", ".join(f"{title} {row[key]:.3f}" for key, title, _ in COLUMNS if key in row)
    return f"best: {status.best} ({scores})"


def render(status: RunStatus) -> str:
    """The status as text: a header, one line per step, the experiment table and the best experiment."""
    width = max(len(step.name) for step in status.steps)
    lines = [f"run {status.name} ({status.store}): {status.done} of {len(status.steps)} steps done", "",
             f"{'step':<{width}}  {'stage':<15}  {'state':<28}  wall"]
    lines += [f"{s.name:<{width}}  {s.stage:<15}  {s.describe():<28}  {duration(s.wall_s)}" for s in status.steps]
    if status.metrics:
        lines += ["", experiment_table(status.metrics), "", best_line(status)]
    return "\n".join(lines)


def main(argv: Sequence[str]) -> None:
    parser: argparse.ArgumentParser = _Parser(prog="em2exm status", description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a run's store (folder or s3:// prefix) or its pipeline YAML")
    parser.add_argument("--json", action="store_true", help="print the status as one JSON object")
    args = parser.parse_args(argv)
    status = run_status(load_run(args.run))
    print(json.dumps(status.to_json(), indent=1) if args.json else render(status))
