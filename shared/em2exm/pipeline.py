"""The one pipeline definition: steps with their stage, command-line arguments, data inputs/outputs and
resources.  The local runner, the Argo renderer and the SLURM writer all consume this object.

Dependencies are not declared: step B depends on step A when B reads a URL that A writes
(or a URL below it), so the DAG always matches the data flow.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from em2exm import storage
from em2exm.config import PipelineConfig, VolumeSource
from em2exm.errors import UserError


@dataclass(frozen=True)
class Resources:
    """What one step asks of a machine."""

    cpu: float = 1.0
    memory_gib: float = 4.0
    gpu: int = 0


@dataclass(frozen=True)
class Step:
    """One stage invocation of the pipeline."""

    name: str
    stage: str
    args: tuple[str, ...]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    resources: Resources = field(default_factory=Resources)
    fanout: int = 0
    """Blocks per task when > 0: the stage takes ``--plan-blocks N`` / ``--blocks START:STOP`` / ``--finalise``
    (see ``em2exm.blockwise``) and backends may run its blocks in parallel."""

    @property
    def module(self) -> str:
        """The Python module of the stage entry point."""
        return "stages." + self.stage.replace("-", "_")

    def command(self, python: str = "python") -> list[str]:
        """The full command line that runs this step."""
        return [python, "-m", self.module, *self.args]


@dataclass(frozen=True)
class Pipeline:
    """Steps in a valid execution order, with data-flow dependencies."""

    steps: tuple[Step, ...]

    def step(self, name: str) -> Step:
        for step in self.steps:
            if step.name == name:
                return step
        raise UserError(f"no step named '{name}'", f"use one of {[s.name for s in self.steps]}")

    def needs(self, step: Step) -> list[str]:
        """Names of the steps whose outputs ``step`` reads."""
        return [
            other.name
            for other in self.steps
            if other is not step and any(_reads(i, o) for i in step.inputs for o in other.outputs)
        ]


def _reads(input_url: str, output_url: str) -> bool:
    return input_url == output_url or input_url.startswith(output_url.rstrip("/") + "/")


def params_json(options: BaseModel, **extra: Any) -> str:
    """A stage section as the compact JSON passed through ``--params``."""
    return json.dumps({**options.model_dump(mode="json"), **extra}, separators=(",", ":"), sort_keys=True)


def _ingest_step(name: str, source: VolumeSource, output: str, config: PipelineConfig, target: tuple[float, ...] | None) -> Step:
    args = ["--image", source.image, "--voxel-size", *map(str, source.voxel_size)]
    if source.expansion_factor != 1.0:
        args += ["--expansion-factor", str(source.expansion_factor)]
    if source.labels:
        args += ["--labels", source.labels]
    if source.subvolume is not None:
        args += ["--subvolume", str(source.subvolume)]
    if target is not None:
        args += ["--target-voxel-size", *map(str, target)]
    args += ["--output", output, "--params", params_json(config.ingest)]
    inputs = tuple(x for x in (source.image, source.labels) if x)
    return Step(name=name, stage="ingest", args=tuple(args), inputs=inputs, outputs=(output,), resources=Resources(cpu=1, memory_gib=4))


def common_voxel_size(config: PipelineConfig) -> tuple[float, float, float]:
    """The pipeline's working voxel size: the ExM voxel size divided by the expansion factor."""
    exm = config.inputs.exm
    return tuple(v / exm.expansion_factor for v in exm.voxel_size)  # type: ignore[return-value]


def urls(config: PipelineConfig) -> dict[str, str]:
    """The URL of every data product of a run."""
    store = config.run.store
    return {
        "em": storage.join(store, "em.zarr"),
        "exm": storage.join(store, "exm.zarr"),
        "report": storage.join(store, "report"),
    }


StepBuilder = Callable[[PipelineConfig, dict[str, str]], list[Step]]


def _ingest_steps(config: PipelineConfig, where: dict[str, str]) -> list[Step]:
    target = common_voxel_size(config)
    return [
        _ingest_step("ingest-em", config.inputs.em, where["em"], config, target),
        _ingest_step("ingest-exm", config.inputs.exm, where["exm"], config, None),
    ]


def _visualize_step(config: PipelineConfig, where: dict[str, str], before: list[Step]) -> Step:
    """The report reads everything the run wrote."""
    outputs = tuple(url for step in before for url in step.outputs)
    args = ("--run", config.run.store, "--output", where["report"])
    return Step(name="visualize", stage="visualize", args=args, inputs=outputs, outputs=(where["report"],))


BUILDERS: list[StepBuilder] = [_ingest_steps]


def build_pipeline(config: PipelineConfig) -> Pipeline:
    """The default pipeline for ``config``."""
    where = urls(config)
    steps: list[Step] = []
    for builder in BUILDERS:
        steps.extend(builder(config, where))
    steps.append(_visualize_step(config, where, steps))
    return Pipeline(tuple(steps))
