"""The pipeline configuration: one YAML file validated by pydantic, unknown keys rejected by name.

Every stage reads its own section; ``--set a.b=value`` overrides any key on every command.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from em2exm import storage
from em2exm.errors import UserError, one_line

if TYPE_CHECKING:
    from em2exm.pipeline_config import PipelineConfig

Model = TypeVar("Model", bound=BaseModel)


def positive_sizes(value: tuple[float, float, float]) -> tuple[float, float, float]:
    """``value`` when all three sizes are finite and > 0; else a ValueError naming them."""
    if not all(math.isfinite(v) and v > 0 for v in value):
        raise ValueError(f"sizes must be three finite numbers > 0 (z y x, nanometres), got {list(value)}")
    return value


Nanometres = Annotated[tuple[float, float, float], AfterValidator(positive_sizes)]
"""A voxel size (z, y, x) in nanometres."""


class StrictModel(BaseModel):
    """A config section: unknown keys are errors, values are checked on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class VolumeSource(StrictModel):
    """A raw input volume: image file, optional instance labels, voxel size in nanometres."""

    image: str
    labels: str | None = None
    voxel_size: Nanometres
    expansion_factor: float = Field(1.0, gt=0)
    subvolume: int | None = None
    channel: int | None = Field(None, ge=0, description="the channel to ingest from a multi-channel (e.g. RGB) image")
    simulate: bool = Field(False, description="ExM only: render the ExM volume from `labels` with simulate-exm (the "
                                              "`simulate` section) instead of using `image`, which is ingested beside them")

    @model_validator(mode="after")
    def _simulated_needs_labels(self) -> VolumeSource:
        if self.simulate and not self.labels:
            raise ValueError("simulate: true renders the volume from its labels: set labels")
        return self


class Inputs(StrictModel):
    """Domain A (labelled EM) and domain B (ExM, labels only for evaluation)."""

    em: VolumeSource
    exm: VolumeSource


class IngestOptions(StrictModel):
    """How raw volumes become normalised OME-Zarr."""

    clip_percentiles: tuple[float, float] = Field(
        (0.5, 99.5), description="low and high intensity percentiles (0..100) mapped to 0 and 255 of the uint8 "
                                 "output; values outside are clipped")
    histeq: bool = Field(False, description="histogram-equalise the clipped intensities (256 bins)")
    invert: bool = Field(False, description="invert the intensities (255 - value) after clipping and equalisation")
    chunks: tuple[int, int, int] = Field((64, 64, 64), description="zarr chunk shape (z, y, x) in voxels of the output "
                                                                   "image and labels")
    crop: tuple[tuple[int, int], tuple[int, int], tuple[int, int]] | None = Field(
        None, description="keep only [[z0, z1], [y0, y1], [x0, x1]] (start inclusive, end exclusive, input voxels, "
                          "before resampling); null: the whole volume")
    nan_policy: Literal["error", "fill-min", "fill-median"] = Field(
        "error", description="NaN/inf image voxels: refuse the image, or replace them by the min or median of the rest"
    )

    @field_validator("clip_percentiles")
    @classmethod
    def _ordered(cls, value: tuple[float, float]) -> tuple[float, float]:
        low, high = value
        if not 0 <= low < high <= 100:
            raise ValueError("need 0 <= low < high <= 100")
        return value


class MatchOptions(StrictModel):
    """How match-intensity makes EM look like ExM (the options section ``match``)."""

    invert: Literal["auto"] | bool = Field(
        "auto", description="invert the EM (true/false); auto: when its histogram is skewed the other way from the "
                            "ExM volume's")
    target_resolution_nm: Nanometres | None = Field(
        None, description="ExM resolution (z, y, x) as FWHM in pre-expansion nm (optical FWHM / expansion); "
                          "unset: estimated from the ExM volume's autocorrelation")
    block: tuple[int, int, int] = Field((64, 256, 256), description="output block (z, y, x) in voxels")


class RunOptions(StrictModel):
    """Where a run writes (every output is a zarr URL under ``store``) and how blockwise steps fan out."""

    store: str = "./runs/demo"
    name: str | None = Field(
        None, description="the run's name (Argo workflow, SLURM jobs, em2exm status/runs); unset: "
                          "<model>__<data>__<config>__<hparams> from the config, e.g. "
                          "light-resnet-6blocks__gala-fibsem-train-to-plantseg-ovule__demo__bc-seg300-gan600 "
                          "(U-Net preset and CycleGAN generator; EM and ExM image names; config file stem; "
                          "seg target, U-Net and CycleGAN iterations), so that runs sort and compare by name")
    blocks_per_task: int = Field(1, ge=1, description="blocks per parallel task of a blockwise step (Argo, SLURM)")

    @field_validator("store")
    @classmethod
    def _lasting(cls, value: str) -> str:
        if value.startswith("memory://"):
            raise ValueError("memory:// lives inside one process, but the runner runs every step in its own: "
                             "use a folder or s3://")
        return value


class DatasetOptions(StrictModel):
    """How build-dataset cuts a labelled volume into training and validation parts."""

    val_fraction: float = Field(0.2, gt=0, lt=1, description="fraction of the volume along split_axis (its far end) "
                                                             "held out for validation; the rest is training")
    split_axis: Literal["z", "y", "x"] = Field("x", description="axis along which the volume is cut into train and "
                                                               "validation parts")
    format: Literal["zarr", "h5"] = Field("zarr", description="zarr: train.zarr and val.zarr (OME-Zarr image + "
                                                             "labels/groundtruth); h5: PyTC-compatible "
                                                             "{train,val}_{im,label}.h5 (dataset 'main')")


ExperimentName = Literal["raw", "ccgan", "segmatch", "oracle", "intensity", "seghead", "rendered", "drawn"]


class ExperimentOptions(StrictModel):
    """The segmenters compared on the ExM volume.

    raw: trained on EM as is; ccgan: on CCGAN-transferred EM; segmatch: on EM transferred by a CCGAN trained
    with seg_match; oracle: on the ExM labels themselves (upper bound); intensity: on EM inverted, blurred and
    histogram-matched to the ExM volume (no learning, match-intensity); drawn: on the EM labels drawn as membranes,
    blurred and histogram-matched the same way (no learning, match-intensity with source: labels); seghead: no U-Net, the segmentation head of
    the seg_match CCGAN's G_B applied to the ExM volume (CySGAN); rendered (only for a simulated ExM volume): on the
    EM labels rendered by simulate-exm with the ExM volume's own settings, what a perfect translator would make of
    the EM (the ceiling of every translation row; its gap to the oracle is the tissue, not the translator).  The oracle trains only on the first
    ``1 - holdout_fraction`` of the ExM volume along ``holdout_axis``; every experiment is scored on the rest.
    """

    names: tuple[ExperimentName, ...] = ("raw", "ccgan", "segmatch", "oracle")
    holdout_axis: Literal["z", "y", "x"] = "x"
    holdout_fraction: float = Field(0.5, gt=0, lt=1)
    judge: bool = Field(True, description="false where ExM labels mean something else than EM's: report only")
    ccgan_source: Literal["em", "intensity", "drawn"] = Field(
        "em", description="what the CycleGANs (ccgan, segmatch, seghead) learn to translate: the EM as ingested; the "
                          "EM after match-intensity (intensity: inverted, blurred, histogram-matched); or its labels "
                          "drawn as membranes and matched the same way (drawn) -- so that the CycleGAN starts from a "
                          "no-learning baseline and learns what it misses (texture, noise)")


class StepResources(StrictModel):
    """What one stage asks of a machine on Argo / SLURM."""

    cpu: float = Field(1.0, gt=0)
    memory_gib: float = Field(4.0, gt=0)
    gpu: int = Field(0, ge=0)


def parse_set(assignment: str) -> tuple[list[str], Any]:
    """Split ``a.b=value`` into its key path and a YAML-typed value."""
    if "=" not in assignment:
        raise UserError(f"--set '{assignment}' has no '='", "write --set section.key=value")
    key, raw = assignment.split("=", 1)
    if not key:
        raise UserError(f"--set '{assignment}' has an empty key", "write --set section.key=value")
    return key.split("."), yaml.safe_load(raw) if raw else ""


def apply_sets(data: dict[str, Any], assignments: Sequence[str]) -> dict[str, Any]:
    """Apply ``--set`` overrides to a nested dict (in place) and return it."""
    for assignment in assignments:
        path, value = parse_set(assignment)
        node = data
        for part in path[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {} if child is None else child
                if not isinstance(child, dict):
                    raise UserError(f"--set {assignment}: '{part}' is not a section", "set a leaf key")
                node[part] = child
            node = child
        node[path[-1]] = value
    return data


def validation_problems(model: type[BaseModel], exc: ValidationError, where: str = "") -> list[tuple[str, str]]:
    """Every error of a failed validation as (the problem, naming the key, and its fix)."""
    problems = []
    suffix = f" in {where}" if where else ""
    for error in exc.errors():
        key = ".".join(str(p) for p in error["loc"]) or "(top level)"
        if error["type"] == "extra_forbidden":
            fields = known_keys(model, error["loc"][:-1])
            problems.append((f"unknown config key '{key}'{suffix}",
                             f"remove it or use one of: {', '.join(fields)}" if fields else "remove it"))
        elif error["type"] == "missing":
            problems.append((f"missing config key '{key}'{suffix}", "add it to the config or pass it as a flag"))
        else:
            problems.append((f"bad value for '{key}'{suffix}: {error['msg'].removeprefix('Value error, ')}",
                             "fix the value"))
    return problems


def validate(model: type[Model], data: dict[str, Any], where: str) -> Model:
    """Validate ``data`` against ``model``; the first error becomes one UserError naming the key."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problem, fix = validation_problems(model, exc, where)[0]
        raise UserError(problem, fix) from exc


def known_keys(model: type[BaseModel], loc: Sequence[Any]) -> list[str]:
    """The keys of ``model``'s section at ``loc`` (empty where ``loc`` is not a section)."""
    current: Any = model
    for part in loc:
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            return []
        current = field.annotation
    return sorted(getattr(current, "model_fields", {}))


def read_yaml(path: str) -> dict[str, Any]:
    """Safe-load a YAML mapping from a path or URL."""
    try:
        text = storage.read_bytes(path).decode()
    except FileNotFoundError as exc:
        raise UserError(f"config file {path} not found", "pass an existing --config path") from exc
    except IsADirectoryError as exc:
        raise UserError(f"config path {path} is a folder", "pass the pipeline YAML file inside it") from exc
    except OSError as exc:
        raise UserError(f"cannot read config file {path} ({exc.strerror or exc})", "pass a readable YAML file") from exc
    except UnicodeDecodeError as exc:
        raise UserError(f"config file {path} is not text (binary at byte {exc.start})", "pass a YAML text file") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UserError(f"config file {path} is not valid YAML ({exc.__class__.__name__})", "fix its syntax") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"config file {path} must hold a mapping", "start it with keys such as 'inputs:'")
    return data


def load_pipeline(path: str, sets: Sequence[str] = ()) -> PipelineConfig:
    """Read, override and validate a pipeline YAML; relative input paths resolve against its folder."""
    from em2exm.pipeline_config import PipelineConfig
    from em2exm.runname import default_name

    data = apply_sets(read_yaml(path), sets)
    config = validate(PipelineConfig, data, path)
    if not config.run.name:
        config.run.name = default_name(config, path)
    sources = (config.inputs.em, config.inputs.exm)
    for location in (config.run.store, *(s.image for s in sources), *(s.labels for s in sources if s.labels)):
        storage.check_url(location)
    base = Path(path).resolve().parent if storage.protocol_of(path) == "file" else None
    if base is not None:
        for source in (config.inputs.em, config.inputs.exm):
            source.image = _resolve(source.image, base)
            if source.labels:
                source.labels = _resolve(source.labels, base)
        if storage.protocol_of(config.run.store) == "file":
            config.run.store = _resolve(config.run.store, base)
    return config


def _resolve(location: str, base: Path) -> str:
    if storage.protocol_of(location) != "file" or os.path.isabs(location):
        return location
    return str((base / location).resolve())


def section_from_sources(
    section: str, config_path: str | None, params_json: str | None, sets: Sequence[str]
) -> dict[str, Any]:
    """A stage's option dict: config file section, then ``--params`` JSON, then ``--set`` overrides.

    ``--set`` keys may carry the section name (``ingest.histeq=true``) or not (``histeq=true``).
    """
    data: dict[str, Any] = {}
    if config_path:
        found = read_yaml(config_path).get(section) or {}
        if not isinstance(found, dict):
            raise UserError(f"section '{section}' of {config_path} is not a mapping but {one_line(repr(found), 40)}",
                            f"write its options as keys under '{section}:'")
        data.update(found)
    if params_json:
        try:
            params = json.loads(params_json)
        except json.JSONDecodeError as exc:
            raise UserError(f"--params is not valid JSON ({exc.msg})", "pass a JSON object") from exc
        if not isinstance(params, dict):
            raise UserError("--params must be a JSON object", "pass e.g. --params '{\"histeq\": true}'")
        data.update(params)
    return apply_sets(data, [s.removeprefix(section + ".") for s in sets])
