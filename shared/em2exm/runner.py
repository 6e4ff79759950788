"""``em2exm run pipeline.yaml``: run the pipeline's steps in order on this machine, skipping complete ones."""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence

from em2exm import commit
from em2exm.config import load_pipeline
from em2exm.errors import ReportedError
from em2exm.layout import RunLayout
from em2exm.lease import RUN_ID_ENV
from em2exm.pipeline import Pipeline, Step, build_pipeline
from em2exm.stagekit import _Parser

log = logging.getLogger("em2exm.run")
SAFE_PATH = "-P" if sys.version_info >= (3, 11) else "-I"  # keeps the working directory off the steps' sys.path


def is_done(step: Step) -> bool:
    """Whether every output of ``step`` is committed."""
    return all(commit.is_complete(url) for url in step.outputs)


def local_command(step: Step, overwrite: bool = False) -> list[str]:
    """The command this machine runs for ``step``: this interpreter, never importing from the working directory."""
    python, *rest = step.command(python=sys.executable)
    return [python, SAFE_PATH, *rest, *(["--overwrite"] if overwrite else [])]


def run_pipeline(pipeline: Pipeline, overwrite: bool = False, only: Sequence[str] = ()) -> list[str]:
    """Run the steps as subprocesses (the same commands the other backends run); return those run."""
    ran = []
    environment = {**os.environ, RUN_ID_ENV: os.environ.get(RUN_ID_ENV) or f"local-{uuid.uuid4().hex[:12]}"}
    for step in pipeline.steps:
        if only and step.name not in only:
            continue
        if is_done(step) and not overwrite:
            log.info("skip %s (complete)", step.name)
            continue
        command = local_command(step, overwrite)
        log.info("run %s: %s", step.name, shlex.join(command[1:]))
        start = time.monotonic()
        code = subprocess.call(command, env=environment)
        if code != 0:
            raise StepFailedError(step.name, code)
        log.info("done %s in %.1f s", step.name, time.monotonic() - start)
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
    parser.add_argument("--overwrite", action="store_true", help="redo every step")
    parser.add_argument("--only", action="append", default=[], metavar="STEP", help="run only this step (repeatable)")
    parser.add_argument("--list", action="store_true", help="print the steps and their commands, run nothing")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    config = load_pipeline(args.config, args.set)
    pipeline = build_pipeline(config)
    if args.list:
        for step in pipeline.steps:
            print(f"{step.name}  needs={pipeline.needs(step)}  gpu={step.resources.gpu}\n  {shlex.join(local_command(step))}")
        return
    try:
        ran = run_pipeline(pipeline, args.overwrite, args.only)
    except StepFailedError as exc:
        if exc.code == 2:
            raise ReportedError(f"em2exm run: step {exc.step} failed (exit 2); its error is above") from exc
        raise
    log.info("pipeline complete (%d steps run, %d skipped)", len(ran), len(pipeline.steps) - len(ran))
    if not args.only:
        report = RunLayout(config.run.store).report
        print(f"results: {config.run.store}\nreport:  {report}/report.md\npictures: {report}/*.png")
