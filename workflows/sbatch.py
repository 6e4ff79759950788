"""The pipeline as a chain of sbatch jobs: one script per step, array jobs for blockwise steps.

A blockwise step becomes three jobs, plus one per pass of its own before the finalise (decode: ``-merge``, the
array job ``-flood``, ``-settle``, ``-number``, the array job ``-apply``; ``-settle`` resubmits ``-flood`` with
``sbatch --wait`` while the flood needs another round): ``-plan`` writes the block ranges to ``<name>.ranges.json``, ``-blocks``
is an array job whose task i runs ranges i, i+n, i+2n, ... (so any number of ranges fits the array), and
``-finalise`` merges and commits.  Jobs start ``afterok`` the jobs whose outputs they read; a failed job
cancels its dependents (``--kill-on-invalid-dep=yes``).  The first jobs are the preflight ``00-check`` (and
``00-check-gpu`` on the GPU partition), which every step reading no other step's output waits for.
"""

from __future__ import annotations

import math
import shlex
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from em2exm import storage
from em2exm.backends import SlurmSettings
from em2exm.pipeline import Pipeline, Step
from em2exm.pipeline_config import PipelineConfig
from em2exm.specs import Resources

from workflows.preflight import Preflight

LOGS = "logs"


@dataclass(frozen=True)
class Job:
    """One sbatch script and the jobs it waits for."""

    name: str
    script: str
    after: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class Runner:
    """How a stage command is started: in its Singularity image, or with a local Python."""

    settings: SlurmSettings
    container: bool
    python: str
    binds: tuple[str, ...]
    run_id: str = field(default_factory=lambda: f"slurm-{uuid.uuid4().hex[:12]}")
    """Shared by every job of the chain (``EM2EXM_RUN_ID``): the tasks of one fan-out share an output's lease."""

    def command(self, step: Step, *extra: str) -> str:
        """The shell command line of ``step`` with ``extra`` arguments (already shell-quoted)."""
        return self.line(step.stage, step.resources.gpu > 0, ["-m", step.module, *step.args], *extra)

    def line(self, stage: str, gpu: bool, arguments: list[str], *extra: str) -> str:
        """``python ARGUMENTS EXTRA`` in ``stage``'s image (with the GPU passed through when ``gpu``), or locally."""
        command = shlex.join(["python" if self.container else self.python, *arguments])
        if not self.container:
            return " ".join([command, *extra])
        image = Path(self.settings.images).resolve() / f"em2exm-{stage}_{self.settings.tag}.sif"
        options = (["--nv"] if gpu else []) + [f"--bind={b}" for b in self.binds]
        return " ".join([self.settings.runtime, "exec", *options, shlex.quote(str(image)), command, *extra])


def local_binds(config: PipelineConfig, pipeline: Pipeline, settings: SlurmSettings) -> tuple[str, ...]:
    """Folders the containers need: the run store, the folders of local inputs, and the configured binds."""
    folders = {storage.normalise(config.run.store)} if storage.protocol_of(config.run.store) == "file" else set()
    produced = {url for step in pipeline.steps for url in step.outputs}
    for step in pipeline.steps:
        for url in step.inputs:
            if storage.protocol_of(url) == "file" and url not in produced:
                folders.add(str(Path(storage.normalise(url).split(":", 1)[0]).parent))  # file.h5:/dataset too
    folders.update(settings.binds)
    return tuple(sorted(f for f in folders if not any(f.startswith(o.rstrip("/") + "/") for o in folders)))


def _header(job_name: str, resources: Resources, runner: Runner, logs: Path, array: str | None) -> list[str]:
    settings, gpu = runner.settings, resources.gpu
    partition = (settings.gpu_partition or settings.partition) if gpu else settings.partition
    options = [
        f"--job-name={job_name}",
        f"--output={logs}/%x-{'%A_%a' if array else '%j'}.out",
        f"--cpus-per-task={math.ceil(resources.cpu)}",
        f"--mem={math.ceil(resources.memory_gib * 1024)}M",
        f"--time={settings.time}",
    ]
    options += [f"--partition={partition}"] if partition else []
    options += [f"--account={settings.account}"] if settings.account else []
    options += [f"--gres=gpu:{gpu}"] if gpu else []
    options += [f"--array={array}"] if array else []
    options += list(settings.extra)
    return ["#!/bin/bash", *(f"#SBATCH {o}" for o in options), "set -euo pipefail", "export PYTHONNOUSERSITE=1",
            f'export EM2EXM_RUN_ID="${{EM2EXM_RUN_ID:-{runner.run_id}}}"']


def _prepare(config: PipelineConfig) -> list[str]:
    """A local store must exist before Singularity can bind it."""
    store = config.run.store
    return [f"mkdir -p {shlex.quote(storage.normalise(store))}"] if storage.protocol_of(store) == "file" else []


def check_jobs(preflight: Preflight, config: PipelineConfig, runner: Runner, folder: Path) -> list[Job]:
    """``00-check``: em2exm check of everything but the GPU; ``00-check-gpu``, when a step asks for a GPU: the GPU
    alone, on the GPU partition, in a GPU stage's image."""
    jobs = []
    for name in preflight.names:
        resources = preflight.resources(name)
        header = _header(f"{config.run.name}-{name}", resources, runner, folder.resolve() / LOGS, None)
        command = runner.line(preflight.stage(name), resources.gpu > 0, ["-m", "em2exm", *preflight.args(name)])
        jobs.append(Job(name, f"00-{name}.sbatch", (), "\n".join([*header, *_prepare(config), command]) + "\n"))
    return jobs


def step_jobs(index: int, step: Step, needs: list[str], config: PipelineConfig, runner: Runner, folder: Path) -> list[Job]:
    """The job(s) of one step; the last one is named after the step (dependents wait for it)."""
    settings, logs, run = runner.settings, folder.resolve() / LOGS, config.run.name
    prefix = f"{index:02d}-{step.name}"

    def job(name: str, after: list[str], body: list[str], array: str | None = None,
            resources: Resources | None = None) -> Job:
        header = _header(f"{run}-{name}", resources or step.resources, runner, logs, array)
        text = "\n".join([*header, *_prepare(config), *body]) + "\n"
        script = prefix + name.removeprefix(step.name) + ".sbatch"
        return Job(name, script, tuple(after), text)

    if step.fanout <= 0:
        return [job(step.name, needs, [runner.command(step)])]
    ranges = shlex.quote(str(folder.resolve() / f"{step.name}.ranges.json"))
    tasks = settings.array_tasks

    def loop(phase: str) -> list[str]:
        return [
            f"read -r -a ranges <<< \"$(tr -d '[]\" \\n' < {ranges} | tr ',' ' ')\"",
            f'for ((i = SLURM_ARRAY_TASK_ID; i < ${{#ranges[@]}}; i += {tasks})); do',
            f'  {runner.command(step, phase, chr(34) + "${ranges[i]}" + chr(34))}',
            "done",
        ]

    array = f"0-{tasks - 1}" + (f"%{settings.array_parallelism}" if settings.array_parallelism else "")
    plan, blocks = f"{step.name}-plan", f"{step.name}-blocks"
    chain = [
        job(plan, needs, [f"{runner.command(step, '--plan-blocks', str(step.fanout))} > {ranges}"]),
        job(blocks, [plan], loop("--blocks"), array),
    ]
    for later in step.spec.passes:
        name, after = f"{step.name}-{later.name}", [chain[-1].name]
        if later.fanned:
            chain.append(job(name, after, loop(f"--{later.name}"), array))
        elif later.settles:
            rounds = next(j for j in chain if j.name == f"{step.name}-{later.settles}")
            chain.append(job(name, after, _settle_loop(runner.command(step, f"--{later.name}"),
                                                       folder.resolve() / rounds.script), resources=SETTLE))
        else:
            chain.append(job(name, after, [runner.command(step, f"--{later.name}")]))
    return [*chain, job(step.name, [chain[-1].name], [runner.command(step, "--finalise")])]


SETTLE = Resources(cpu=1, memory_gib=2)
"""What a settle job asks for: it reads one record per block, and waits while the rounds it submits run."""


def _settle_loop(settle: str, rounds: Path) -> list[str]:
    """Settle the round the array job ``rounds`` ran; while the settle prints ``again``, submit that array job once
    more, wait for it (``sbatch --wait``: its highest exit code) and settle again."""
    return [
        "while :; do",
        f"  said=$({settle})",
        '  [ "$said" = again ] || break',
        f"  sbatch --wait --quiet {shlex.quote(str(rounds))}",
        "done",
        '[ "$said" = done ]',
    ]


def jobs(config: PipelineConfig, pipeline: Pipeline, runner: Runner, folder: Path) -> list[Job]:
    """Every job of the pipeline, in submission order: the checks first; a step that reads no other step's output
    waits for them."""
    preflight = Preflight.of(config, pipeline)
    return check_jobs(preflight, config, runner, folder) + [
        job
        for index, step in enumerate(pipeline.steps, start=1)
        for job in step_jobs(index, step, pipeline.needs(step) or list(preflight.names), config, runner, folder)
    ]


def submit_script(chain: list[Job]) -> str:
    """``submit.sh``: submits the chain with afterok dependencies and prints each job id."""
    variables = {job.name: f"job{i}" for i, job in enumerate(chain)}
    lines = [
        "#!/usr/bin/env bash",
        "# Submit the em2exm job chain; each job waits (afterok) for the jobs whose outputs it reads.",
        "set -euo pipefail",
        'cd "$(dirname "$0")"',
        f"mkdir -p {LOGS}",
    ]
    for job in chain:
        after = ":".join(f"${{{variables[a]}}}" for a in job.after)
        dependency = f" --dependency=afterok:{after}" if after else ""
        var = variables[job.name]
        lines.append(f"{var}=$(sbatch --parsable --kill-on-invalid-dep=yes{dependency} {job.script}); {var}=${{{var}%%;*}}")
        lines.append(f'echo "{job.name} ${{{var}}}"')
    return "\n".join(lines) + "\n"


def write(chain: list[Job], folder: Path) -> list[Path]:
    """Write the job scripts and ``submit.sh`` into ``folder``; return their paths."""
    (folder / LOGS).mkdir(parents=True, exist_ok=True)
    paths = []
    for job in chain:
        paths.append(folder / job.script)
        paths[-1].write_text(job.text)
    paths.append(folder / "submit.sh")
    paths[-1].write_text(submit_script(chain))
    paths[-1].chmod(0o755)
    return paths
