"""The umbrella CLI: ``em2exm <stage> ...`` runs a stage (``em2exm.specs``, ``em2exm.tasks``); plus the tools."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence
from functools import partial

from em2exm import stagekit
from em2exm.specs import STAGES

TOOLS = {
    "run": ("em2exm.runner", "run the pipeline locally, skipping completed steps"),
    "check": ("em2exm.check.cli", "preflight: config, inputs, store, GPU and memory, every problem at once"),
    "tune-decode": ("em2exm.tune.cli", "search the decoder's thresholds on a labelled box of a run's predictions"),
    "status": ("em2exm.status", "every step of a run: done, partial, failed or not started; wall time, scores"),
    "runs": ("em2exm.runs", "the runs under a store: steps done, best experiment and its scores"),
}
OPTIONAL_TOOLS = {
    "workflow": ("workflows.cli", "render, lint or submit the pipeline as Argo workflows"),
    "slurm": ("workflows.slurm", "write (and submit) the pipeline as chained sbatch jobs"),
    "view": ("em2exm.viewer", "serve a run directory and print a Neuroglancer URL"),
}


def stage_names() -> list[str]:
    """Names of the stages."""
    return sorted(STAGES)


def _available_tools() -> dict[str, tuple[str, str]]:
    """The built-in tools plus the optional ones whose module is installed."""
    tools = dict(TOOLS)
    for name, (module, help_text) in OPTIONAL_TOOLS.items():
        try:
            if importlib.util.find_spec(module) is not None:
                tools[name] = (module, help_text)
        except ModuleNotFoundError:
            continue
    return tools


def _usage(tools: dict[str, tuple[str, str]]) -> str:
    lines = ["usage: em2exm <command> [options]   (em2exm <command> --help for its options)", "", "stages:"]
    lines += [f"  {name}" for name in stage_names()]
    lines += ["", "tools:"] + [f"  {name:<10} {help_text}" for name, (_, help_text) in tools.items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch to a stage or tool and return its exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    tools = _available_tools()
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage(tools))
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command in ("-V", "--version"):
        from em2exm import __version__

        print(__version__)
        return 0
    if command in tools:
        entry: Callable[[Sequence[str]], None] = importlib.import_module(tools[command][0]).main
    elif command in stage_names():
        entry = partial(stagekit.stage_main, command)
    else:
        print(f"error: unknown command '{command}' -- fix: use one of {', '.join(stage_names() + list(tools))}", file=sys.stderr)
        return 2
    return stagekit.run_stage(entry, rest)


if __name__ == "__main__":
    sys.exit(main())
