"""The one pipeline definition: steps, each a stage (``em2exm.specs``) with its validated options and resources;
command lines, inputs and outputs come from the stage's spec.  The local runner, the Argo renderer and the SLURM
writer all consume this object.

Dependencies are not declared: step B depends on step A when B reads a URL that A writes
(or a URL below it), so the DAG always matches the data flow.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

from pydantic import BaseModel

from em2exm.config import ExperimentName, MatchOptions, VolumeSource, validate
from em2exm.errors import UserError
from em2exm.layout import RunLayout
from em2exm.pipeline_config import PipelineConfig
from em2exm.specs import STAGES, Resources, StageSpec, flag, spec
from em2exm.tiling import triple


@dataclass(frozen=True, eq=False)
class Step:
    """One stage invocation of the pipeline: the stage and its validated options (URLs included)."""

    name: str
    stage: str
    params: BaseModel
    resources: Resources = field(default_factory=Resources)
    fanout: int = 0
    """Blocks per task when > 0: the stage takes ``--plan-blocks N`` / ``--blocks START:STOP`` / ``--finalise``
    (see ``em2exm.blockwise``) and backends may run its blocks in parallel."""
    after: tuple[str, ...] = ()
    """URLs read beyond the spec's inputs (visualize reads everything the run wrote)."""

    @property
    def spec(self) -> StageSpec:
        return spec(self.stage)

    @property
    def module(self) -> str:
        """The Python module of the stage entry point."""
        return "stages." + self.spec.module

    @property
    def inputs(self) -> tuple[str, ...]:
        """The URLs the step reads."""
        return (*self.spec.read(self.params), *self.after)

    @property
    def outputs(self) -> tuple[str, ...]:
        """The URLs the step writes."""
        return self.spec.written(self.params)

    @property
    def urls(self) -> dict[str, str]:
        """The URL fields that are set, by flag name (inputs first)."""
        values = {flag(n): getattr(self.params, n) for n in self.spec.urls}
        return {name: url for name, url in values.items() if url}

    @property
    def options(self) -> str:
        """Every other option that is not its default, as the compact JSON passed through ``--params``."""
        values = self.params.model_dump(mode="json", exclude_defaults=True, exclude=set(self.spec.urls))
        return json.dumps(values, separators=(",", ":"), sort_keys=True)

    @property
    def args(self) -> tuple[str, ...]:
        """The command-line arguments of the step."""
        return (*(token for name, url in self.urls.items() for token in ("--" + name, url)), "--params", self.options)

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


class _Steps:
    """Builds steps for one config: resources and fan-out filled in from the config and the stage specs."""

    def __init__(self, config: PipelineConfig) -> None:
        unknown = sorted(set(config.resources) - set(STAGES))
        if unknown:
            raise UserError(f"resources for unknown stage '{unknown[0]}'", f"use stage names {sorted(STAGES)}")
        self.config = config
        self.steps: list[Step] = []

    def add(self, name: str, stage: str, section: BaseModel | None, after: Sequence[str] = (), **values: Any) -> None:
        """Add step ``name`` running ``stage`` with the options of ``section`` and ``values`` (its URLs and the
        step's own settings); a step already added (shared by two experiments, e.g. the seg_match CCGAN) is kept."""
        if any(step.name == name for step in self.steps):
            return
        stage_spec = spec(stage)
        options = section.model_dump() if section is not None else {}
        params = validate(stage_spec.params, {**options, **values}, f"the '{name}' step's options")
        override = self.config.resources.get(stage)
        resources = Resources(**override.model_dump()) if override else stage_spec.resources
        fanout = self.config.run.blocks_per_task if stage_spec.blockwise else 0
        self.steps.append(Step(name, stage, params, resources, fanout, tuple(after)))


def common_voxel_size(config: PipelineConfig) -> tuple[float, float, float]:
    """The pipeline's working voxel size: the ExM voxel size divided by the expansion factor (for a simulated
    ExM volume: the voxel size it is rendered at)."""
    exm = config.inputs.exm
    if exm.simulate:
        return config.simulate.output_voxel()
    return triple(v / exm.expansion_factor for v in exm.voxel_size)


def _exm(steps: _Steps, at: RunLayout) -> None:
    """The ExM volume: ingested, or rendered by simulate-exm from an ingested labelled volume."""
    config = steps.config
    source = config.inputs.exm
    if not source.simulate:
        _ingest(steps, "ingest-exm", source, at.exm, None)
        return
    _ingest(steps, "ingest-exm-source", source, at.exm_source, None)
    steps.add("simulate-exm", "simulate-exm", config.simulate, labels=at.labels(at.exm_source), output=at.exm)


def _ingest(steps: _Steps, name: str, source: VolumeSource, output: str, target: tuple[float, ...] | None) -> None:
    volume = source.model_dump(include={"image", "labels", "voxel_size", "expansion_factor", "subvolume", "channel"})
    steps.add(name, "ingest", steps.config.ingest, **volume, target_voxel_size=target, output=output)


def _ccgan_source(steps: _Steps, at: RunLayout) -> str:
    """The domain-A image the CycleGANs translate: the ingested EM, or match-intensity's output from its image
    (intensity) or its labels (drawn)."""
    source = steps.config.experiments.ccgan_source
    return at.em if source == "em" else _intensity_matched(steps, at, source)


def _ccgan_model(steps: _Steps, name: str, at: RunLayout) -> str:
    """The CCGAN of experiment ``name`` (``segmatch`` trains with the segmentation head and seg_match)."""
    model, source = at.ccgan_model(name), _ccgan_source(steps, at)
    steps.add(f"ccgan-train-{name}", "ccgan-train", steps.config.ccgan, seg_head=name == "segmatch", a=source,
              a_labels=at.labels(source), b=at.exm, output=model)
    return model


MATCH_SOURCES = {"intensity": "image", "drawn": "labels"}
"""The no-learning experiments and what match-intensity makes look like ExM for each: the EM image or its labels."""


def _intensity_matched(steps: _Steps, at: RunLayout, experiment: str = "intensity") -> str:
    """The EM (intensity) or its labels drawn as membranes (drawn), inverted where the polarity says so, blurred
    and histogram-matched to the ExM volume (match-intensity, no learning)."""
    transferred, source = at.transferred(experiment), MATCH_SOURCES[experiment]
    name = "match-intensity" if experiment == "intensity" else f"match-{experiment}"
    steps.add(name, "match-intensity", _match_options(steps.config), source=source, image=at.em,
              labels=at.labels(at.em), target=at.exm, output=transferred)
    return transferred


def _training_image(steps: _Steps, experiment: ExperimentName, at: RunLayout) -> tuple[str, str]:
    """The labelled image an experiment's segmenter learns from (adding the steps that make it)."""
    config = steps.config
    if experiment == "raw":
        return at.em, at.labels(at.em)
    if experiment == "oracle":
        return at.exm, at.labels(at.exm)
    if experiment in MATCH_SOURCES:
        transferred = _intensity_matched(steps, at, experiment)
        return transferred, at.labels(transferred)
    if experiment == "rendered":
        rendered = _rendered_em(steps, at)
        return rendered, at.labels(rendered)
    model, source, transferred = _ccgan_model(steps, experiment, at), _ccgan_source(steps, at), at.transferred(experiment)
    steps.add(f"transfer-{experiment}", "ccgan-transfer", config.transfer, checkpoint=model, image=source,
              labels=at.labels(source), output=transferred)
    return transferred, at.labels(transferred)


def _rendered_em(steps: _Steps, at: RunLayout) -> str:
    """The EM labels rendered by simulate-exm with the ExM volume's settings and another seed: a perfect
    translator's output, rendered from the labels at their own voxel size as the ExM volume is."""
    config, rendered = steps.config, at.transferred("rendered")
    _ingest(steps, "ingest-em-source", config.inputs.em, at.em_source, None)
    steps.add("simulate-em", "simulate-exm", config.simulate, seed=(config.simulate.seed + 1) % 2**63,
              labels=at.labels(at.em_source), output=rendered)
    return rendered


def _match_options(config: PipelineConfig) -> MatchOptions:
    """The ``match`` section; for a simulated ExM volume the resolution is known: its PSF divided by the expansion."""
    sim, match = config.simulate, config.match
    if match.target_resolution_nm is not None or not config.inputs.exm.simulate:
        return match
    lateral, axial = sim.psf_fwhm_lateral_nm / sim.expansion_factor, sim.psf_fwhm_axial_nm / sim.expansion_factor
    return match.model_copy(update={"target_resolution_nm": (axial, lateral, lateral)})


def _seghead(steps: _Steps, at: RunLayout) -> str:
    """CySGAN's segmenter: the seg_match CCGAN's G_B on the ExM volume; returns its maps (the predictions)."""
    model, output = _ccgan_model(steps, "segmatch", at), at.seghead_transfer()
    steps.add("transfer-seghead", "ccgan-transfer", steps.config.transfer, generator="G_B", checkpoint=model,
              image=at.exm, output=output)
    return at.predictions("seghead")


class _Split(TypedDict, total=False):
    """build-dataset's held-out split (the oracle's dataset only)."""

    val_fraction: float
    split_axis: Literal["z", "y", "x"]


class _Region(TypedDict, total=False):
    """evaluate's scored region (the part no experiment trains on)."""

    region_axis: Literal["z", "y", "x"]
    region_start: float
    judge: bool


def _segmenter(steps: _Steps, experiment: ExperimentName, at: RunLayout) -> str:
    """Dataset, U-Net training and inference on ExM for one experiment; returns the predictions URL."""
    config, holdout = steps.config, steps.config.experiments
    image, labels = _training_image(steps, experiment, at)
    dataset, model, predictions = at.dataset(experiment), at.seg_model(experiment), at.predictions(experiment)
    split: _Split = (
        {"val_fraction": holdout.holdout_fraction, "split_axis": holdout.holdout_axis} if experiment == "oracle" else {}
    )
    steps.add(f"dataset-{experiment}", "build-dataset", config.dataset, **split, image=image, labels=labels, output=dataset)
    steps.add(f"seg-train-{experiment}", "seg-train", config.seg, dataset=dataset, output=model)
    steps.add(f"seg-infer-{experiment}", "seg-infer", config.infer, checkpoint=model, image=at.exm, output=predictions)
    return predictions


def _experiment(steps: _Steps, experiment: ExperimentName, at: RunLayout) -> None:
    """One segmenter: dataset, training, inference on ExM, decoding and (with ExM labels) evaluation."""
    config, holdout = steps.config, steps.config.experiments
    predictions = _seghead(steps, at) if experiment == "seghead" else _segmenter(steps, experiment, at)
    steps.add(f"decode-{experiment}", "decode", config.decode, predictions=predictions)
    if config.inputs.exm.labels:
        region: _Region = {
            "region_axis": holdout.holdout_axis, "region_start": 1 - holdout.holdout_fraction, "judge": holdout.judge,
        }
        steps.add(f"evaluate-{experiment}", "evaluate", config.evaluate, **region, segmentation=at.instances(experiment),
                  groundtruth=at.labels(at.exm), output=at.evaluation(experiment))


def build_pipeline(config: PipelineConfig) -> Pipeline:
    """The default pipeline for ``config``: ingest, every experiment, then the report over all of it."""
    at = RunLayout(config.run.store)
    if "oracle" in config.experiments.names and not config.inputs.exm.labels:
        raise UserError("experiment 'oracle' needs ExM labels", "set inputs.exm.labels or drop 'oracle' from experiments.names")
    if "seghead" in config.experiments.names and config.ccgan.seg_target != config.seg.target:
        raise UserError(f"experiment 'seghead' decodes the CCGAN head's maps ({config.ccgan.seg_target}) with the decode "
                        f"section made for the U-Net's ({config.seg.target})",
                        f"set ccgan.seg_target: {config.seg.target}, or drop 'seghead' from experiments.names")
    if "rendered" in config.experiments.names and not config.inputs.exm.simulate:
        raise UserError("experiment 'rendered' renders the EM labels like a simulated ExM volume, but inputs.exm is "
                        "not simulated", "set inputs.exm.simulate: true, or drop 'rendered' from experiments.names")
    steps = _Steps(config)
    _ingest(steps, "ingest-em", config.inputs.em, at.em, common_voxel_size(config))
    _exm(steps, at)
    for experiment in dict.fromkeys(config.experiments.names):
        _experiment(steps, experiment, at)
    everything = [url for step in steps.steps for url in step.outputs]
    steps.add("visualize", "visualize", None, after=everything, run=config.run.store, output=at.report)
    return Pipeline(tuple(steps.steps))
