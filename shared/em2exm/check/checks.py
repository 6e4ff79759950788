"""All checks of one pipeline config, in order: config, inputs, store and free space, GPU, memory."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from em2exm.check.gpu import GpuMode, check_gpu
from em2exm.check.inputs import Volumes, check_inputs
from em2exm.check.loading import Loaded
from em2exm.check.memory import check_memory, written_bytes
from em2exm.check.report import Report
from em2exm.check.store import check_store
from em2exm.errors import UserError
from em2exm.pipeline import Pipeline, Step, build_pipeline, common_voxel_size
from em2exm.pipeline_config import PipelineConfig
from em2exm.tiling import triple


def _pipeline(report: Report, loaded: Loaded) -> Pipeline | None:
    if loaded.config is None:
        report.warn("config", "steps, GPU and memory are not checked: the config does not validate")
        return None
    try:
        pipeline = build_pipeline(loaded.config)
    except UserError as exc:
        report.error("config", exc)
        return None
    report.ok("config", f"{len(pipeline.steps)} steps: {', '.join(s.name for s in pipeline.steps[:6])}"
                        f"{', ...' if len(pipeline.steps) > 6 else ''}")
    return pipeline


def run_checks(loaded: Loaded, report: Report, gpu: GpuMode = "local", only: Sequence[str] = ()) -> Report:
    """Check what ``loaded`` describes; ``only``: the steps to check GPU and memory for (default all);
    ``gpu="require"`` checks the GPU alone (the backends' check on the GPU node)."""
    pipeline = _pipeline(report, loaded)
    steps: list[Step] = [s for s in pipeline.steps if not only or s.name in only] if pipeline else []
    if gpu == "require":
        if loaded.config is not None:
            check_gpu(report, steps, loaded.config, gpu)
        return report
    volumes = Volumes()
    if loaded.inputs is not None:
        exm = loaded.inputs.exm
        common = common_voxel_size(loaded.config) if loaded.config else triple(v / exm.expansion_factor for v in exm.voxel_size)
        volumes = check_inputs(report, loaded.inputs, common, loaded.config.ingest if loaded.config else None)
    if loaded.run is not None:
        check_store(report, loaded.run.store, written_bytes(steps, volumes) if steps else None)
    if loaded.config is not None:
        check_gpu(report, steps, loaded.config, gpu)
        check_memory(report, steps, loaded.config, volumes)
    return report


def preflight(config: PipelineConfig, only: Sequence[str], logger: logging.Logger) -> None:
    """``em2exm run``'s check of a validated config on this machine before any step: the findings logged,
    exit 2 (one line) when one is a problem."""
    report = run_checks(Loaded(config, config.run, config.inputs), Report(), "local", only)
    report.log(logger)
    report.raise_problems("em2exm run: the preflight check", "fix them (em2exm check CONFIG lists them again), or pass "
                                                             "--no-check to run anyway")
