"""``em2exm slurm pipeline.yaml -o jobs/``: the pipeline as chained sbatch jobs (Singularity or a local Python)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from em2exm.errors import UserError
from em2exm.pipeline import build_pipeline
from em2exm.stagekit import _Parser

from workflows import sbatch
from workflows.settings import load


def submit(chain: list[sbatch.Job], folder: Path) -> dict[str, str]:
    """Submit the chain with ``sbatch --parsable``; return job name -> job id."""
    ids: dict[str, str] = {}
    for job in chain:
        command = ["sbatch", "--parsable", "--kill-on-invalid-dep=yes"]
        if job.after:
            command.append("--dependency=afterok:" + ":".join(ids[a] for a in job.after))
        try:
            done = subprocess.run([*command, job.script], cwd=folder, capture_output=True, text=True, check=False)
        except FileNotFoundError as exc:
            raise UserError("sbatch is not installed here", "run on a SLURM login node, or submit later with submit.sh") from exc
        if done.returncode != 0:
            raise UserError(f"sbatch refused {job.script}: {done.stderr.strip()}", "fix the 'slurm' settings (partition, account, ...)")
        ids[job.name] = done.stdout.strip().split(";")[0]
        print(f"{job.name} {ids[job.name]}", flush=True)
    return ids


def main(argv: Sequence[str]) -> None:
    """Entry point of ``em2exm slurm``."""
    parser = _Parser(prog="em2exm slurm", description="The pipeline as chained sbatch jobs, run in Singularity images or a local Python.")
    parser.add_argument("config", help="pipeline YAML (its 'slurm' section configures the backend)")
    parser.add_argument("-o", "--output", required=True, help="folder for the job scripts")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    parser.add_argument("--no-container", action="store_true", help="run stages with a local Python instead of Singularity")
    parser.add_argument("--python", default=sys.executable, help="the Python of --no-container (default: this one)")
    parser.add_argument("--submit", action="store_true", help="submit the chain with sbatch and print the job ids")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    config, _, settings = load(args.config, args.set)
    pipeline = build_pipeline(config)
    folder = Path(args.output)
    binds = () if args.no_container else sbatch.local_binds(config, pipeline, settings)
    runner = sbatch.Runner(settings, not args.no_container, args.python, binds)
    chain = sbatch.jobs(config, pipeline, runner, folder)
    for path in sbatch.write(chain, folder):
        print(path)
    if args.submit:
        submit(chain, folder)
