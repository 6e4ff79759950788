"""The blockwise stage convention, shared by ccgan-transfer, seg-infer and decode.

One invocation does everything by default.  For a fan-out (Argo ``withParam``, SLURM array jobs) the same
entry point is called three ways:

- ``--plan-blocks N``: prepare the output (create arrays; idempotent) and print the block ranges as a JSON
  list of ``"START:STOP"`` strings, N blocks per task;
- ``--blocks START:STOP``: process those blocks; each block is committed on its own, finished blocks are skipped;
- ``--finalise``: check every block is done, run the stage's merge (e.g. stitching), commit the output.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from em2exm import commit
from em2exm.errors import UserError
from em2exm.progress import progress

log = logging.getLogger("em2exm.blockwise")


def add_block_flags(parser: argparse.ArgumentParser) -> None:
    """Add the fan-out flags to a stage's parser."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--plan-blocks", type=int, metavar="PER_TASK", help="prepare and print block ranges as JSON")
    group.add_argument("--blocks", metavar="START:STOP", help="process only these blocks")
    group.add_argument("--finalise", action="store_true", help="merge processed blocks and commit the output")


def parse_range(text: str, count: int) -> range:
    """``"START:STOP"`` as a range of block ids within ``0..count``."""
    try:
        start, stop = (int(part) for part in text.split(":"))
    except ValueError as exc:
        raise UserError(f"--blocks '{text}' is not START:STOP", "pass e.g. --blocks 0:8") from exc
    if not 0 <= start <= stop <= count:
        raise UserError(f"--blocks {text} is outside 0:{count}", "use a range printed by --plan-blocks")
    return range(start, stop)


def task_ranges(count: int, per_task: int) -> list[str]:
    """Split ``count`` blocks into ``"START:STOP"`` ranges of ``per_task`` blocks."""
    if per_task < 1:
        raise UserError(f"--plan-blocks {per_task} must be >= 1", "pass the number of blocks per task")
    return [f"{s}:{min(s + per_task, count)}" for s in range(0, count, per_task)]


@dataclass
class BlockwiseJob:
    """What a blockwise stage provides: its output URL, block count and the three phases."""

    output: str
    count: int
    prepare: Callable[[], None]
    process: Callable[[int], dict[str, Any] | None]
    finalise: Callable[[], dict[str, Any] | None]


def run(job: BlockwiseJob, args: argparse.Namespace, overwrite: bool) -> None:
    """Run the phases that the command-line flags ask for."""
    if args.plan_blocks is not None:
        _prepare(job, overwrite)
        print(json.dumps(task_ranges(job.count, args.plan_blocks)))
        return
    if args.blocks is not None:
        _process(job, parse_range(args.blocks, job.count))
        return
    if args.finalise:
        _finalise(job)
        return
    if commit.is_complete(job.output) and not overwrite:
        log.info("%s is complete; nothing to do (use --overwrite to redo it)", job.output)
        return
    _prepare(job, overwrite)
    _process(job, range(job.count))
    _finalise(job)


def _prepare(job: BlockwiseJob, overwrite: bool) -> None:
    if overwrite:
        commit.uncommit(job.output)
    if not commit.done_blocks(job.output):
        job.prepare()


def _process(job: BlockwiseJob, blocks: range) -> None:
    done = commit.done_blocks(job.output)
    todo = [b for b in blocks if b not in done]
    if len(todo) < len(blocks):
        log.info("skipping %d finished blocks", len(blocks) - len(todo))
    for block in progress(todo, total=len(todo), desc="blocks"):
        info = job.process(block)
        commit.mark_block_done(job.output, block, info)


def _finalise(job: BlockwiseJob) -> None:
    missing = sorted(set(range(job.count)) - commit.done_blocks(job.output))
    if missing:
        raise UserError(f"{len(missing)} of {job.count} blocks are not done (first: {missing[0]})", "run those blocks first")
    info = job.finalise() or {}
    commit.mark_complete(job.output, {"blocks": job.count, **info})
