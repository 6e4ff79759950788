"""Build the Argo manifests of a pipeline config and write them as YAML files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from em2exm.backends import ArgoSettings
from em2exm.pipeline import build_pipeline
from em2exm.pipeline_config import PipelineConfig
from hera.workflows import Workflow, WorkflowTemplate

from workflows.argo import pipeline_workflow, stage_templates
from workflows.preflight import Preflight

WORKFLOW_FILE = "workflow.yaml"


@dataclass(frozen=True)
class Manifests:
    """The stage WorkflowTemplates and the pipeline Workflow that calls them."""

    templates: list[WorkflowTemplate]
    workflow: Workflow

    def documents(self) -> list[dict[str, Any]]:
        """Every manifest as a dict, templates first."""
        return [t.to_dict() for t in self.templates] + [self.workflow.to_dict()]


def build(config: PipelineConfig, settings: ArgoSettings) -> Manifests:
    """The manifests of ``config``'s pipeline."""
    if config.run.name is None:
        raise ValueError("the run has no name: load its config with em2exm.config.load_pipeline, which names it")
    pipeline = build_pipeline(config)
    workflow = pipeline_workflow(pipeline, settings, config.run.name, Preflight.of(config, pipeline))
    resources = {step.stage: step.resources for step in pipeline.steps}
    return Manifests(stage_templates(settings, resources, stages=resources), workflow)


def write(manifests: Manifests, folder: Path) -> list[Path]:
    """Write ``<template name>.yaml`` per WorkflowTemplate and ``workflow.yaml``; return the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for template in manifests.templates:
        written.append(folder / f"{template.name}.yaml")
        written[-1].write_text(template.to_yaml())
    written.append(folder / WORKFLOW_FILE)
    written[-1].write_text(manifests.workflow.to_yaml())
    return written
