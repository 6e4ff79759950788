"""What a stage is, declared once: from a ``StageSpec`` come its command line, its pipeline steps, its Argo
templates, the Helm chart, its SLURM scripts, its container image and its row in the README."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel


@dataclass(frozen=True)
class Pass:
    """A pass of a blockwise stage over its processed blocks: serial (one task) or fanned out over block ranges."""

    name: str
    fanned: bool
    help: str
    settles: str | None = None
    """For a serial pass: the fanned-out pass before it that runs in rounds until this pass prints ``done``
    (``again``: one more round)."""


@dataclass(frozen=True)
class Resources:
    """What one task of a stage asks of a machine."""

    cpu: float = 1.0
    memory_gib: float = 4.0
    gpu: int = 0


@dataclass(frozen=True)
class StageSpec:
    """One stage: its options, the URLs it reads and writes, how it runs."""

    name: str
    """The stage's name (``seg-infer``): its command, image ``em2exm-<name>`` and WorkflowTemplate."""
    summary: str
    """One line: what the stage does."""
    details: str
    """What else a user should know of it (its row in the README's stage table)."""
    params: type[BaseModel]
    """Everything one run of the stage takes: its config section's options plus the fields below."""
    section: str
    """The section of the pipeline YAML its options come from."""
    inputs: tuple[str, ...]
    """Fields of ``params`` holding URLs the stage reads (each gets a flag and an Argo parameter)."""
    outputs: tuple[str, ...]
    """Fields of ``params`` holding URLs the stage writes."""
    flags: tuple[str, ...] = ()
    """Other fields of ``params`` that get a flag of their own (the rest: ``--params`` / ``--set`` / ``--config``)."""
    blockwise: bool = False
    """The stage takes ``--plan-blocks`` / ``--blocks`` / ``--finalise`` and can fan its blocks out."""
    passes: tuple[Pass, ...] = ()
    """Passes of a blockwise stage between its blocks and its finalise, in order (decode: merge, flood, number,
    apply; see ``em2exm.blockwise``): each gets a flag (``--<name>``, with ``START:STOP`` when fanned out)."""
    resources: Resources = field(default_factory=Resources)
    writes: Callable[[Any], tuple[str, ...]] | None = None
    """The URLs a run writes, when they are not simply the values of ``outputs`` (e.g. decode's label image)."""

    @property
    def module(self) -> str:
        """The Python name of the stage (``seg_infer``): ``stages.<module>`` runs it, ``em2exm.tasks.<module>`` is it."""
        return self.name.replace("-", "_")

    @property
    def gpu(self) -> bool:
        """Whether the stage runs on a GPU pool (and the CUDA runtime image)."""
        return self.resources.gpu > 0

    @property
    def urls(self) -> tuple[str, ...]:
        """Every URL field, inputs first."""
        return (*self.inputs, *self.outputs)

    def written(self, params: BaseModel) -> tuple[str, ...]:
        """The URLs one run with ``params`` writes."""
        if self.writes is not None:
            return self.writes(params)
        return tuple(url for url in (getattr(params, name) for name in self.outputs) if url)

    def read(self, params: BaseModel) -> tuple[str, ...]:
        """The URLs one run with ``params`` reads."""
        return tuple(url for url in (getattr(params, name) for name in self.inputs) if url)


def flag(name: str) -> str:
    """A field's command-line flag and Argo parameter name (``a_labels`` -> ``a-labels``)."""
    return name.replace("_", "-")
