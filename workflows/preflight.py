"""The preflight check (``em2exm check``) as the first task of a backend: on a CPU node for everything but the
GPU, and, when a step asks for a GPU, a second one on a GPU node for the GPU alone.  Every step that reads no other
step's output waits for both, so a bad config fails in seconds instead of after the queue.

The config travels as ``--params`` JSON (no config file has to reach the node), with local paths already resolved.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from em2exm.pipeline import Pipeline
from em2exm.pipeline_config import PipelineConfig
from em2exm.specs import Resources

CHECK, CHECK_GPU = "check", "check-gpu"
CHECK_STAGE = "ingest"
"""The stage whose image runs the CPU check (every pipeline ingests); the GPU check runs in a GPU stage's image."""
CHECK_RESOURCES = Resources(cpu=1, memory_gib=2)


@dataclass(frozen=True)
class Preflight:
    """The check tasks of one pipeline."""

    config: str
    gpu_stage: str | None
    gpus: int

    @classmethod
    def of(cls, config: PipelineConfig, pipeline: Pipeline) -> Preflight:
        gpu_steps = [s for s in pipeline.steps if s.resources.gpu > 0]
        text = json.dumps(config.model_dump(mode="json", exclude_defaults=True), separators=(",", ":"), sort_keys=True)
        return cls(text, gpu_steps[0].stage if gpu_steps else None, max((s.resources.gpu for s in gpu_steps), default=0))

    @property
    def names(self) -> tuple[str, ...]:
        """The check tasks every root step waits for."""
        return (CHECK, CHECK_GPU) if self.gpu_stage else (CHECK,)

    def args(self, name: str) -> list[str]:
        """``python -m em2exm`` arguments of the check task ``name``."""
        return ["check", "--params", self.config, "--gpu", "require" if name == CHECK_GPU else "skip"]

    def stage(self, name: str) -> str:
        """The stage whose image (and node pool) the check task ``name`` runs with."""
        return (self.gpu_stage or CHECK_STAGE) if name == CHECK_GPU else CHECK_STAGE

    def resources(self, name: str) -> Resources:
        return Resources(CHECK_RESOURCES.cpu, CHECK_RESOURCES.memory_gib, self.gpus if name == CHECK_GPU else 0)
