"""Validate a pipeline config and list every problem of it, not only the first; keep what still validates
(``run`` and ``inputs``) so the other checks can go on."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from em2exm import storage
from em2exm.check.report import Report
from em2exm.config import Inputs, RunOptions, VolumeSource, apply_sets, read_yaml, validation_problems
from em2exm.errors import UserError
from em2exm.pipeline_config import PipelineConfig


@dataclass
class Loaded:
    """The config when it validates, else the sections that do (None where they do not either)."""

    config: PipelineConfig | None
    run: RunOptions | None
    inputs: Inputs | None


def raw_config(path: str | None, params: str | None, sets: list[str]) -> tuple[dict[str, Any], str]:
    """The config as a dict (from a YAML path or ``--params`` JSON, with ``--set`` applied) and where it came from."""
    if (path is None) == (params is None):
        raise UserError("em2exm check needs the pipeline config", "pass CONFIG (a YAML path) or --params JSON, not both")
    if path is not None:
        return apply_sets(read_yaml(path), sets), path
    try:
        data = json.loads(params or "")
    except json.JSONDecodeError as exc:
        raise UserError(f"--params is not valid JSON ({exc.msg})", "pass the pipeline config as a JSON object") from exc
    if not isinstance(data, dict):
        raise UserError("--params must be a JSON object", "pass the pipeline config as a JSON object")
    return apply_sets(data, sets), "--params"


def _errors(exc: ValidationError) -> list[str]:
    """One line per validation error, naming the key, with its fix."""
    return [f"{problem} -- fix: {fix}" for problem, fix in validation_problems(PipelineConfig, exc)]


def _section(model: type[BaseModel], data: Any) -> Any:
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError:
        return None


def _resolve(location: str, base: Path | None) -> str:
    if base is None or storage.protocol_of(location) != "file" or os.path.isabs(location):
        return location
    return str((base / location).resolve())


def _resolve_paths(run: RunOptions | None, inputs: Inputs | None, base: Path | None) -> None:
    """Relative local paths resolve against the config file's folder, as ``em2exm run`` resolves them."""
    sources: tuple[VolumeSource, ...] = (inputs.em, inputs.exm) if inputs else ()
    for source in sources:
        source.image = _resolve(source.image, base)
        if source.labels:
            source.labels = _resolve(source.labels, base)
    if run is not None and storage.protocol_of(run.store) == "file":
        run.store = _resolve(run.store, base)


def load(data: dict[str, Any], where: str, report: Report) -> Loaded:
    """Validate ``data``; every validation error becomes a problem of ``report``."""
    base = Path(where).resolve().parent if where != "--params" and storage.protocol_of(where) == "file" else None
    try:
        config = PipelineConfig.model_validate(data)
    except ValidationError as exc:
        for line in _errors(exc):
            report.fail("config", f"{where}: {line}")
        run, inputs = _section(RunOptions, data.get("run")), _section(Inputs, data.get("inputs"))
        _resolve_paths(run, inputs, base)
        return Loaded(None, run, inputs)
    _resolve_paths(config.run, config.inputs, base)
    report.ok("config", f"{where} validates")
    return Loaded(config, config.run, config.inputs)
