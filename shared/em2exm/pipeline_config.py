"""The pipeline YAML's schema: one validated section per concern, defaults everywhere but ``inputs``.

Stage sections (``simulate``, ``ccgan``, ``transfer``, ``match``, ``dataset``, ``seg``, ``infer``, ``decode``, ``evaluate``) are the same
models the stages validate their ``--params`` with, so a key the pipeline accepts is a key the stage accepts.
"""

from __future__ import annotations

from em2exm.backends import ArgoSettings, SlurmSettings
from em2exm.ccgan.config import CCGANConfig, TransferOptions
from em2exm.config import (
    DatasetOptions,
    ExperimentOptions,
    IngestOptions,
    Inputs,
    MatchOptions,
    RunOptions,
    StepResources,
    StrictModel,
)
from em2exm.decode.options import DecodeOptions
from em2exm.metrics.options import EvaluateOptions
from em2exm.seg.config import InferOptions, SegTrainConfig
from em2exm.simulate.options import SimulateOptions


class PipelineConfig(StrictModel):
    """The whole pipeline.yaml."""

    run: RunOptions = RunOptions()
    inputs: Inputs
    ingest: IngestOptions = IngestOptions()
    simulate: SimulateOptions = SimulateOptions()
    ccgan: CCGANConfig = CCGANConfig()
    transfer: TransferOptions = TransferOptions()
    match: MatchOptions = MatchOptions()
    dataset: DatasetOptions = DatasetOptions()
    seg: SegTrainConfig = SegTrainConfig()
    infer: InferOptions = InferOptions()
    decode: DecodeOptions = DecodeOptions()
    evaluate: EvaluateOptions = EvaluateOptions()
    experiments: ExperimentOptions = ExperimentOptions()
    resources: dict[str, StepResources] = {}
    argo: ArgoSettings = ArgoSettings()
    slurm: SlurmSettings = SlurmSettings()
