"""``em2exm run pipeline.yaml``: run the pipeline's steps in order on this machine, skipping current ones.

A step is current when its outputs are committed and were made by the same command from inputs with the same
identity (recorded in the output after the step ran); any other step runs with ``--update``, so the stage itself
keeps an output whose fingerprint still matches and redoes one made with other options or inputs.  The run's config
and every attempt are recorded in the store for ``em2exm status`` (:mod:`em2exm.runrecord`)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shlex
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence

from em2exm import commit, runrecord, storage
from em2exm.check import preflight
from em2exm.config import load_pipeline
from em2exm.errors import ReportedError
from em2exm.fingerprints import input_identity
from em2exm.layout import RunLayout
from em2exm.lease import RUN_ID_ENV
from em2exm.pipeline import Pipeline, Step, build_pipeline
from em2exm.stagekit import _Parser

log = logging.getLogger("em2exm.run")
STEP_RECORD = ".em2exm_step.json"
SAFE_PATH = "-P" if sys.version_info >= (3, 11) else "-I"  # keeps the working directory off the steps' sys.path


def step_key(step: Step) -> str:
    """What a step's result depends on, as the runner sees it: its command and the identity of its inputs."""
    record = [step.stage, list(step.args), [input_identity(url) for url in step.inputs]]
    return hashlib.sha256(json.dumps(record).encode()).hexdigest()


def _commits(step: Step) -> list[str | None]:
    return [commit.read_marker(url).get("commit_id") if commit.is_complete(url) else None for url in step.outputs]


def is_current(step: Step) -> bool:
    """Whether the step's outputs are committed and were made by this same command from these same inputs
    (as recorded by :func:`remember`); anything else runs the step, which then keeps or redoes its output."""
    commits = _commits(step)
    if None in commits:
        return False
    try:
        record = json.loads(storage.read_bytes(storage.join(step.outputs[0], STEP_RECORD)))
    except (FileNotFoundError, ValueError):
        return False
    return record == {"key": step_key(step), "commits": commits}


def remember(step: Step) -> None:
    """Record, in the step's output, the command and inputs its committed outputs were made with."""
    record = {"key": step_key(step), "commits": _commits(step)}
    storage.write_atomic(storage.join(step.outputs[0], STEP_RECORD), json.dumps(record).encode())


def local_command(step: Step, overwrite: bool = False) -> list[str]:
    """The command this machine runs for ``step``: this interpreter, never importing from the working directory;
    ``--update`` (redo an output made with other options or inputs) unless ``--overwrite`` (redo it anyway)."""
    python, *rest = step.command(python=sys.executable)
    return [python, SAFE_PATH, *rest, "--overwrite" if overwrite else "--update"]


def run_pipeline(pipeline: Pipeline, overwrite: bool = False, only: Sequence[str] = (),
                 recorder: runrecord.Recorder | None = None) -> list[str]:
    """Run the steps as subprocesses (the same commands the other backends run); return those run.
    ``recorder`` records every attempt (start, end, exit code) for ``em2exm status``."""
    ran = []
    environment = {**os.environ, RUN_ID_ENV: os.environ.get(RUN_ID_ENV) or f"local-{uuid.uuid4().hex[:12]}"}
    for step in pipeline.steps:
        if only and step.name not in only:
            continue
        if not overwrite and is_current(step):
            log.info("skip %s (complete, same command and inputs)", step.name)
            continue
        command = local_command(step, overwrite)
        log.info("run %s: %s", step.name, shlex.join(command[1:]))
        start = time.time()
        code = subprocess.call(command, env=environment)
        end = time.time()
        if recorder is not None:
            recorder.attempt(step, start, end, code, environment[RUN_ID_ENV])
        if code != 0:
            raise StepFailedError(step.name, code)
        log.info("done %s in %.1f s", step.name, end - start)
        remember(step)
        ran.append(step.name)
    return ran


class StepFailedError(Exception):
    """A step exited non-zero; the runner exits with the same code."""

    def __init__(self, step: str, code: int) -> None:
        super().__init__(f"step {step} failed with exit code {code}")
        self.step, self.code = step, code


def main(argv: Sequence[str]) -> None:
    parser = _Parser(prog="em2exm run", description=__doc__.splitlines()[0])
    parser.add_argument("config", help="pipeline YAML")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    parser.add_argument("--overwrite", action="store_true", help="redo every step (only em2exm's own outputs are removed)")
    parser.add_argument("--only", action="append", default=[], metavar="STEP", help="run only this step (repeatable)")
    parser.add_argument("--list", action="store_true", help="print the steps and their commands, run nothing")
    parser.add_argument("--no-check", action="store_true", help="skip the preflight (em2exm check) before the steps")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    config = load_pipeline(args.config, args.set)
    pipeline = build_pipeline(config)
    if args.list:
        for step in pipeline.steps:
            print(f"{step.name}  needs={pipeline.needs(step)}  gpu={step.resources.gpu}\n  {shlex.join(local_command(step))}")
        return
    if not args.no_check:
        preflight(config, args.only, log)
    try:
        ran = run_pipeline(pipeline, args.overwrite, args.only, runrecord.Recorder(config, args.config))
    except StepFailedError as exc:
        if exc.code == 2:
            raise ReportedError(f"em2exm run: step {exc.step} failed (exit 2); its error is above") from exc
        raise
    chosen = [s for s in pipeline.steps if not args.only or s.name in args.only]
    log.info("pipeline complete (%d steps run, %d already current)", len(ran), len(chosen) - len(ran))
    if not args.only:
        report = RunLayout(config.run.store).report
        print(f"results: {config.run.store}\nreport:  {report}/report.md\npictures: {report}/*.png")
