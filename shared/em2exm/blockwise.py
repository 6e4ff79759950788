"""The blockwise stage convention, shared by ccgan-transfer, seg-infer and decode.

One invocation does everything by default.  For a fan-out (Argo ``withParam``, SLURM array jobs) the same
entry point is called three ways:

- ``--plan-blocks N``: claim and prepare the output (create arrays, record the plan's fingerprint) and print the
  block ranges as a JSON list of ``"START:STOP"`` strings, N blocks per task (positions in the stage's block
  ``order``: decode's groups compact blocks, others' are ids in C order);
- ``--blocks START:STOP``: process those blocks; each block is committed on its own, finished blocks are skipped;
- ``--finalise``: check every block is done, run the stage's merge (e.g. stitching), commit the output.

A stage with passes of its own (``passes`` in its spec; decode's merge, flood, number and apply) runs them in order
between ``--blocks`` and ``--finalise``: a serial pass (``--merge``) is one task whose record is committed once it has
written everything later passes read; a fanned-out pass (``--apply START:STOP``) runs on the same ranges as the
blocks, each block committed on its own (or, ``per_task``, a task's unfinished blocks together, each committed after
all of them are written: decode's flood, which iterates among them).  A fanned-out pass may run in *rounds*
(decode's flood): the serial pass after it (``--settle``) reads the round's block records and either commits
(printing ``done``) or closes the round (printing ``again``), and the fanned-out pass runs again over every block.  Every pass checks the one before it is
complete; the finalise then only checks the last and commits.  So the serial parts never pass over the volume.

The tasks of one fan-out share the run's lease on the output (same ``EM2EXM_RUN_ID``); another run gets exit 2.
Every phase compares the plan's fingerprint (options and inputs) with the one recorded at prepare: a changed plan is
exit 2, never blocks of two plans in one output.  ``--overwrite`` / ``--update`` belong to the prepare (or a whole run).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from em2exm import commit, faults, outputs
from em2exm.errors import UserError
from em2exm.invocation import Invocation
from em2exm.progress import progress

log = logging.getLogger("em2exm.blockwise")


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


@dataclass(frozen=True)
class JobPass:
    """One pass of a blockwise stage: ``serial`` (returns its record), ``per_block`` (fanned out; returns the
    block's record or None) or ``per_task`` (fanned out; gets a task's unfinished blocks together and returns each
    one's record, committed after it returns). A serial pass that ``settles`` a fanned-out pass gets the round and
    returns None while that pass needs another round; the fanned-out pass then gets the round too."""

    name: str
    serial: Callable[..., dict[str, Any] | None] | None = None
    per_block: Callable[..., dict[str, Any] | None] | None = None
    per_task: Callable[..., dict[int, dict[str, Any]]] | None = None
    settles: str | None = None

    @property
    def fanned(self) -> bool:
        """Whether the pass runs on the blocks' ranges."""
        return self.serial is None


@dataclass
class BlockwiseJob:
    """What a blockwise stage provides: its output, what decides it, the block count and the three phases."""

    stage: str
    output: str
    options: BaseModel
    inputs: Mapping[str, str | None]
    products: Sequence[str]
    count: int
    prepare: Callable[[], None]
    process: Callable[[int], dict[str, Any] | None]
    finalise: Callable[[], dict[str, Any] | None]
    plan: dict[str, Any] = field(default_factory=dict)
    """Derived facts of the plan (block grid, shapes, dtypes) that are part of its fingerprint."""
    passes: Sequence[JobPass] = ()
    """The stage's passes between blocks and finalise, in order (as its spec lists them)."""
    order: Sequence[int] | None = None
    """The block ids that the ranges of ``--plan-blocks`` / ``--blocks`` address by position (None: ids in order);
    decode's compact groups of blocks (:meth:`em2exm.tiling.BlockGrid.compact_order`) for its flood."""

    def tasks_blocks(self, text: str | None) -> Sequence[int]:
        """The block ids of a task's ``START:STOP`` range of positions (every block for None)."""
        if text is None:
            return range(self.count)
        positions = parse_range(text, self.count)
        return positions if self.order is None else [self.order[p] for p in positions]


def run(job: BlockwiseJob, how: Invocation) -> None:
    """Run the phases ``how`` asks for; every argument is checked before anything is written."""
    phase = how.phase
    names = [p.name for p in job.passes]
    if phase not in ("plan", "blocks", "finalise", "all", *names):
        raise UserError(f"{job.stage} has no --{phase} phase", "run --plan-blocks, --blocks, then --finalise")
    ranges = task_ranges(job.count, how.plan_blocks) if how.plan_blocks is not None else []
    blocks, step_blocks = job.tasks_blocks(how.blocks), job.tasks_blocks(how.step_blocks)
    redo = how.redo
    if redo != "never" and phase not in ("plan", "all"):
        raise UserError(f"--overwrite/--update cannot be combined with --{phase}",
                        "pass it to --plan-blocks (or to a whole run)")
    if phase not in ("plan", "all") and not outputs.planned(job.output):
        raise UserError(f"{job.output} has not been planned", f"run {job.stage} --plan-blocks N first")
    options = {**job.options.model_dump(mode="json"), **{f"plan.{k}": v for k, v in job.plan.items()}}
    with outputs.claim(job.output, stage=job.stage, options=options, inputs=job.inputs, products=job.products,
                       redo=redo, resumable=frozenset(), joinable=phase != "all",
                       keep_lease=phase not in ("finalise", "all"), start=False) as output:
        output.keep = output.resumed  # a fresh plan is worth keeping once a block is done
        if output.complete:
            if phase == "plan":
                print(json.dumps(ranges))
            return
        if not output.resumed:
            job.prepare()
            output.start()
        if phase == "plan":
            print(json.dumps(ranges))
            return
        if phase in ("blocks", "all"):
            _process(job, output, blocks)
        index = 0
        while index < len(job.passes):
            step = job.passes[index]
            if phase in (step.name, "all") and _run_pass(job, output, index, step_blocks, phase == step.name):
                index = names.index(step.settles or step.name) if phase == "all" else index + 1
                continue
            index += 1
        if phase in ("finalise", "all"):
            try:
                _finalise(job, output)
            except UserError:
                if phase == "all" and not output.resumed:
                    output.keep = False  # bad input only the finalise can see: a fresh whole run leaves nothing
                raise


def _process(job: BlockwiseJob, output: outputs.Output, blocks: Sequence[int]) -> None:
    done = commit.done_blocks(job.output)
    todo = [b for b in blocks if b not in done]
    if len(todo) < len(blocks):
        log.info("skipping %d finished blocks", len(blocks) - len(todo))
    for block in progress(todo, total=len(todo), desc="blocks"):
        info = job.process(block)
        faults.point("blockwise.block-written")
        output.check()
        commit.mark_block_done(job.output, block, info)
        output.keep = True


def _require_blocks(job: BlockwiseJob, folder: str, what: str, fix: str) -> None:
    missing = sorted(set(range(job.count)) - commit.done_blocks(job.output, folder))
    if missing:
        raise UserError(f"{len(missing)} of {job.count} blocks are not {what} (first: {missing[0]})", fix)


def _settler(job: BlockwiseJob, step: JobPass) -> JobPass | None:
    return next((p for p in job.passes if p.settles == step.name), None)


def _round(job: BlockwiseJob, step: JobPass) -> int | None:
    """The current round of the fanned-out pass ``step``, or None if it does not run in rounds."""
    return commit.current_round(job.output, step.name) if _settler(job, step) is not None else None


def _pass_done(job: BlockwiseJob, step: JobPass) -> bool:
    if not step.fanned:
        return commit.read_pass(job.output, step.name) is not None
    settler = _settler(job, step)
    if settler is not None and _pass_done(job, settler):
        return True
    return len(commit.done_blocks(job.output, commit.pass_folder(step.name, _round(job, step)))) == job.count


def _require_previous(job: BlockwiseJob, index: int) -> None:
    """Exit 2 unless what pass ``index`` reads is complete: every block, and the pass before it."""
    _require_blocks(job, commit.BLOCK_MARKERS, "done", "run those blocks first")
    if index > 0 and not _pass_done(job, job.passes[index - 1]):
        before = job.passes[index - 1].name
        raise UserError(f"{job.output} has not finished its {before} pass", f"run {job.stage} --{before} first")


def _run_pass(job: BlockwiseJob, output: outputs.Output, index: int, blocks: Sequence[int], asked: bool) -> bool:
    """Run pass ``index`` (on ``blocks`` if fanned out); returns True when a settle pass closed a round that changed
    something (another round follows), printing ``again`` or ``done`` for a settle pass run on its own (``asked``)."""
    step = job.passes[index]
    if _pass_done(job, step) and (not step.fanned or _settler(job, step) is not None):
        log.info("the %s pass is already committed", step.name)
        if asked and step.settles:
            print("done")
        return False
    _require_previous(job, index)
    if not step.fanned:
        return _run_serial(job, output, step, asked)
    round_index = _round(job, step)
    folder = commit.pass_folder(step.name, round_index)
    extra = [] if round_index is None else [round_index]
    done = commit.done_blocks(job.output, folder)
    todo = [b for b in blocks if b not in done]
    if step.per_task is not None:
        together = step.per_task(todo, *extra) if todo else {}
        records: Iterable[tuple[int, dict[str, Any] | None]] = ((b, together[b]) for b in todo)
    else:
        assert step.per_block is not None
        per_block = step.per_block
        records = ((b, per_block(b, *extra)) for b in progress(todo, desc=step.name))
    for block, info in records:
        output.check()
        commit.mark_block_done(job.output, block, info, folder=folder)
        faults.point(f"blockwise.block-{step.name}")
    return False


def _run_serial(job: BlockwiseJob, output: outputs.Output, step: JobPass, asked: bool) -> bool:
    assert step.serial is not None
    if step.settles is None:
        info = step.serial()
        output.check()
        commit.mark_pass(job.output, step.name, info or {})
        return False
    closing = commit.current_round(job.output, step.settles)
    info = step.serial(closing)
    output.check()
    if info is None:
        commit.mark_pass(job.output, f"{step.settles}.{closing}", {"changed": True})
    else:
        commit.mark_pass(job.output, step.name, info)
    if asked:
        print("again" if info is None else "done")
    return info is None


def _finalise(job: BlockwiseJob, output: outputs.Output) -> None:
    _require_blocks(job, commit.BLOCK_MARKERS, "done", "run those blocks first")
    merged: dict[str, Any] = {}
    if job.passes and not _pass_done(job, job.passes[-1]):
        last = job.passes[-1].name
        raise UserError(f"{job.output} has not finished its {last} pass", f"run {job.stage} --{last} first")
    for step in job.passes:
        if not step.fanned:
            merged.update(commit.read_pass(job.output, step.name) or {})
    info = job.finalise() or {}
    output.commit({"blocks": job.count, **merged, **info})
