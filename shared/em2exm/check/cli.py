"""check: a preflight of pipeline.yaml that fails in seconds instead of after an hour in a queue.

Checks that the config validates; that every input opens (shape, dtype, voxel size and the common voxel size
it is resampled to); that the store is reachable and writable (a probe object is created and deleted; S3
endpoint and credentials); that a GPU is visible where a step asks for one (and torch sees CUDA); each step's
estimated memory against its resources; free space where the storage can tell.  Every problem is listed (FAIL
lines), then exit 2 if there is any.  The local runner runs it before the steps; Argo and SLURM as their first task.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from em2exm.check.checks import run_checks
from em2exm.check.gpu import GPU_MODES
from em2exm.check.loading import load, raw_config
from em2exm.check.report import Report
from em2exm.stagekit import _Parser


def main(argv: Sequence[str]) -> None:
    """Entry point of ``em2exm check``."""
    parser = _Parser(prog="em2exm check", description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", help="pipeline YAML (path or URL)")
    parser.add_argument("--params", help="the pipeline config as a JSON object instead of a YAML file (how Argo and "
                                         "SLURM pass it)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    parser.add_argument("--gpu", choices=GPU_MODES, default="local",
                        help="local (default): check GPU steps against this machine as em2exm run uses it (device: "
                             "cuda without CUDA is a problem, a GPU step falling back to the CPU a warning); skip: "
                             "no GPU check (the backends' first task, on a CPU node); require: only the GPU, every "
                             "GPU step needs CUDA here (the backends' check on the GPU node)")
    parser.add_argument("--log-level", default="WARNING", help="logging level (default WARNING)")
    args = parser.parse_args(argv)
    logging.getLogger().setLevel(args.log_level.upper())
    data, where = raw_config(args.config, args.params, args.set)
    report = Report()
    run_checks(load(data, where, report), report, args.gpu)
    print(report.text(), flush=True)
    report.raise_problems("em2exm check", "fix each FAIL line above, then run em2exm check again")
