"""Every stage's declaration (``em2exm.specs.<stage>``: its options model and ``SPEC``), found by module."""

from __future__ import annotations

import importlib
import pkgutil

from em2exm.errors import UserError
from em2exm.specs.base import Resources, StageSpec, flag

STAGES: dict[str, StageSpec] = {}
for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        _spec: StageSpec = importlib.import_module(f"{__name__}.{_module.name}").SPEC
        STAGES[_spec.name] = _spec


def spec(name: str) -> StageSpec:
    """The declaration of stage ``name``."""
    if name not in STAGES:
        raise UserError(f"no stage named '{name}'", f"use one of {', '.join(sorted(STAGES))}")
    return STAGES[name]


__all__ = ["STAGES", "Resources", "StageSpec", "flag", "spec"]
