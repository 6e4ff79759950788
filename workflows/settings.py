"""The pipeline config and its two backend sections, loaded for the workflow renderers."""

from __future__ import annotations

from collections.abc import Sequence

from em2exm.backends import ArgoSettings, SlurmSettings
from em2exm.config import load_pipeline
from em2exm.pipeline_config import PipelineConfig


def load(path: str, sets: Sequence[str] = ()) -> tuple[PipelineConfig, ArgoSettings, SlurmSettings]:
    """The pipeline config of ``path`` and its two backend sections."""
    config = load_pipeline(path, sets)
    return config, config.argo, config.slurm
