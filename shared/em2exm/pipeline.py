"""The one pipeline definition: steps with their stage, command-line arguments, data inputs/outputs and
resources.  The local runner, the Argo renderer and the SLURM writer all consume this object.

Dependencies are not declared: step B depends on step A when B reads a URL that A writes
(or a URL below it), so the DAG always matches the data flow.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from em2exm.config import ExperimentName, MatchOptions, VolumeSource
from em2exm.errors import UserError
from em2exm.layout import RunLayout
from em2exm.pipeline_config import PipelineConfig


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
    """A stage section (its non-default values) as the compact JSON passed through ``--params``."""
    return json.dumps({**options.model_dump(mode="json", exclude_defaults=True), **extra}, separators=(",", ":"), sort_keys=True)


DEFAULT_RESOURCES: dict[str, Resources] = {
    "ingest": Resources(cpu=2, memory_gib=8),
    "simulate-exm": Resources(cpu=2, memory_gib=8),
    "ccgan-train": Resources(cpu=4, memory_gib=16, gpu=1),
    "ccgan-transfer": Resources(cpu=4, memory_gib=16, gpu=1),
    "match-intensity": Resources(cpu=2, memory_gib=8),
    "build-dataset": Resources(cpu=1, memory_gib=8),
    "seg-train": Resources(cpu=4, memory_gib=16, gpu=1),
    "seg-infer": Resources(cpu=4, memory_gib=16, gpu=1),
    "decode": Resources(cpu=2, memory_gib=8),
    "evaluate": Resources(cpu=2, memory_gib=8),
    "visualize": Resources(cpu=1, memory_gib=4),
}
BLOCKWISE = ("simulate-exm", "ccgan-transfer", "match-intensity", "seg-infer", "decode")


class _Steps:
    """Builds steps for one config: resources and fan-out filled in from the config."""

    def __init__(self, config: PipelineConfig) -> None:
        unknown = sorted(set(config.resources) - set(DEFAULT_RESOURCES))
        if unknown:
            raise UserError(f"resources for unknown stage '{unknown[0]}'", f"use stage names {sorted(DEFAULT_RESOURCES)}")
        self.config = config
        self.steps: list[Step] = []

    def add(self, name: str, stage: str, args: list[str], inputs: list[str], outputs: list[str]) -> None:
        if any(step.name == name for step in self.steps):  # shared by two experiments (e.g. the seg_match CCGAN)
            return
        override = self.config.resources.get(stage)
        resources = Resources(**override.model_dump()) if override else DEFAULT_RESOURCES[stage]
        fanout = self.config.run.blocks_per_task if stage in BLOCKWISE else 0
        step = Step(name, stage, tuple(args), tuple(inputs), tuple(outputs), resources, fanout)
        self.steps.append(step)


def common_voxel_size(config: PipelineConfig) -> tuple[float, float, float]:
    """The pipeline's working voxel size: the ExM voxel size divided by the expansion factor (for a simulated
    ExM volume: the voxel size it is rendered at)."""
    exm = config.inputs.exm
    if exm.simulate:
        return config.simulate.output_voxel()
    return tuple(v / exm.expansion_factor for v in exm.voxel_size)  # type: ignore[return-value]


def _exm(steps: _Steps, at: RunLayout) -> None:
    """The ExM volume: ingested, or rendered by simulate-exm from an ingested labelled volume."""
    config = steps.config
    source = config.inputs.exm
    if not source.simulate:
        _ingest(steps, "ingest-exm", source, at.exm, None)
        return
    _ingest(steps, "ingest-exm-source", source, at.exm_source, None)
    args = ["--labels", at.labels(at.exm_source), "--output", at.exm, "--params", params_json(config.simulate)]
    steps.add("simulate-exm", "simulate-exm", args, [at.exm_source], [at.exm])


def _ingest(steps: _Steps, name: str, source: VolumeSource, output: str, target: tuple[float, ...] | None) -> None:
    args = ["--image", source.image, "--voxel-size", *map(str, source.voxel_size)]
    if source.expansion_factor != 1.0:
        args += ["--expansion-factor", str(source.expansion_factor)]
    if source.labels:
        args += ["--labels", source.labels]
    if source.subvolume is not None:
        args += ["--subvolume", str(source.subvolume)]
    if source.channel is not None:
        args += ["--channel", str(source.channel)]
    if target is not None:
        args += ["--target-voxel-size", *map(str, target)]
    args += ["--output", output, "--params", params_json(steps.config.ingest)]
    steps.add(name, "ingest", args, [x for x in (source.image, source.labels) if x], [output])


def _ccgan_source(steps: _Steps, at: RunLayout) -> str:
    """The domain-A image the CycleGANs translate: the ingested EM, or match-intensity's output from its image
    (intensity) or its labels (drawn)."""
    source = steps.config.experiments.ccgan_source
    return at.em if source == "em" else _intensity_matched(steps, at, source)


def _ccgan_model(steps: _Steps, name: str, at: RunLayout) -> str:
    """The CCGAN of experiment ``name`` (``segmatch`` trains with the segmentation head and seg_match)."""
    model, source = at.ccgan_model(name), _ccgan_source(steps, at)
    ccgan = params_json(steps.config.ccgan, seg_head=name == "segmatch")
    args = ["--a", source, "--a-labels", at.labels(source), "--b", at.exm, "--output", model, "--params", ccgan]
    steps.add(f"ccgan-train-{name}", "ccgan-train", args, [source, at.exm], [model])
    return model


MATCH_SOURCES = {"intensity": "image", "drawn": "labels"}
"""The no-learning experiments and what match-intensity makes look like ExM for each: the EM image or its labels."""


def _intensity_matched(steps: _Steps, at: RunLayout, experiment: str = "intensity") -> str:
    """The EM (intensity) or its labels drawn as membranes (drawn), inverted where the polarity says so, blurred
    and histogram-matched to the ExM volume (match-intensity, no learning)."""
    transferred, source = at.transferred(experiment), MATCH_SOURCES[experiment]
    options = params_json(_match_options(steps.config), **({"source": source} if source != "image" else {}))
    args = ["--image", at.em, "--labels", at.labels(at.em), "--target", at.exm, "--output", transferred]
    name = "match-intensity" if experiment == "intensity" else f"match-{experiment}"
    steps.add(name, "match-intensity", [*args, "--params", options], [at.em, at.exm], [transferred])
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
    args = ["--checkpoint", model, "--image", source, "--labels", at.labels(source), "--output", transferred]
    steps.add(f"transfer-{experiment}", "ccgan-transfer", [*args, "--params", params_json(config.transfer)], [model, source], [transferred])
    return transferred, at.labels(transferred)


def _rendered_em(steps: _Steps, at: RunLayout) -> str:
    """The EM labels rendered by simulate-exm with the ExM volume's settings and another seed: a perfect
    translator's output, rendered from the labels at their own voxel size as the ExM volume is."""
    config, rendered = steps.config, at.transferred("rendered")
    _ingest(steps, "ingest-em-source", config.inputs.em, at.em_source, None)
    args = ["--labels", at.labels(at.em_source), "--output", rendered,
            "--params", params_json(config.simulate, seed=(config.simulate.seed + 1) % 2**63)]
    steps.add("simulate-em", "simulate-exm", args, [at.em_source], [rendered])
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
    options = params_json(steps.config.transfer, generator="G_B")
    args = ["--checkpoint", model, "--image", at.exm, "--output", output, "--params", options]
    steps.add("transfer-seghead", "ccgan-transfer", args, [model, at.exm], [output])
    return at.predictions("seghead")


def _segmenter(steps: _Steps, experiment: ExperimentName, at: RunLayout) -> str:
    """Dataset, U-Net training and inference on ExM for one experiment; returns the predictions URL."""
    config, holdout = steps.config, steps.config.experiments
    image, labels = _training_image(steps, experiment, at)
    dataset, model, predictions = at.dataset(experiment), at.seg_model(experiment), at.predictions(experiment)
    split = {"val_fraction": holdout.holdout_fraction, "split_axis": holdout.holdout_axis} if experiment == "oracle" else {}
    dataset_args = ["--image", image, "--labels", labels, "--output", dataset, "--params", params_json(config.dataset, **split)]
    steps.add(f"dataset-{experiment}", "build-dataset", dataset_args, [image, labels], [dataset])
    steps.add(f"seg-train-{experiment}", "seg-train", ["--dataset", dataset, "--output", model, "--params", params_json(config.seg)], [dataset], [model])
    infer = ["--checkpoint", model, "--image", at.exm, "--output", predictions, "--params", params_json(config.infer)]
    steps.add(f"seg-infer-{experiment}", "seg-infer", infer, [model, at.exm], [predictions])
    return predictions


def _experiment(steps: _Steps, experiment: ExperimentName, at: RunLayout) -> None:
    """One segmenter: dataset, training, inference on ExM, decoding and (with ExM labels) evaluation."""
    config, holdout = steps.config, steps.config.experiments
    predictions = _seghead(steps, at) if experiment == "seghead" else _segmenter(steps, experiment, at)
    instances = at.instances(experiment)
    steps.add(f"decode-{experiment}", "decode", ["--predictions", predictions, "--params", params_json(config.decode)], [predictions], [instances])
    if config.inputs.exm.labels:
        region = {"region_axis": holdout.holdout_axis, "region_start": 1 - holdout.holdout_fraction, "judge": holdout.judge}
        args = ["--segmentation", instances, "--groundtruth", at.labels(at.exm), "--output", at.evaluation(experiment)]
        steps.add(f"evaluate-{experiment}", "evaluate", [*args, "--params", params_json(config.evaluate, **region)], [instances, at.exm], [at.evaluation(experiment)])


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
    steps.add("visualize", "visualize", ["--run", config.run.store, "--output", at.report], everything, [at.report])
    return Pipeline(tuple(steps.steps))
