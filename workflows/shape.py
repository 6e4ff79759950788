"""A step's argument list as a template: flags stay literal, every value becomes a named parameter.

``--image a.tif --voxel-size 10 10 10`` has the shape ``--image {{image}} --voxel-size {{voxel-size-0}} ...``
and the values ``{"image": "a.tif", "voxel-size-0": "10", ...}``.  Steps of one stage with the same shape share
one Argo template; Argo cannot drop or split arguments, so a different shape needs a template of its own.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from em2exm.pipeline import Step

POSITIONAL = "arg"


def parameter(name: str) -> str:
    """The Argo expression of an input parameter."""
    return "{{inputs.parameters.%s}}" % name


@dataclass(frozen=True)
class Shape:
    """Literal flags and parameter placeholders, in order, plus the parameter names."""

    tokens: tuple[str, ...]
    names: tuple[str, ...]

    def key(self, *extra: object) -> str:
        """A short stable id of this shape (and of anything else that must match)."""
        text = json.dumps([self.tokens, *extra], default=str)
        return hashlib.sha1(text.encode()).hexdigest()[:8]


def _is_flag(token: str) -> bool:
    return token.startswith("--") and len(token) > 2


def _groups(args: tuple[str, ...]) -> list[tuple[str | None, list[str]]]:
    """``[(flag or None, values)]`` in order; values before the first flag have no flag."""
    groups: list[tuple[str | None, list[str]]] = [(None, [])]
    for token in args:
        if _is_flag(token):
            groups.append((token, []))
        else:
            groups[-1][1].append(token)
    return [g for g in groups if g[0] is not None or g[1]]


def split(step: Step) -> tuple[Shape, dict[str, str]]:
    """The shape of ``step.args`` and the parameter values that fill it."""
    tokens: list[str] = []
    values: dict[str, str] = {}
    for flag, group in _groups(step.args):
        base = flag[2:] if flag else POSITIONAL
        if flag:
            tokens.append(flag)
        for index, value in enumerate(group):
            name = base if len(group) == 1 else f"{base}-{index}"
            while name in values:
                name += "-again"
            values[name] = value
            tokens.append(parameter(name))
    return Shape(tuple(tokens), tuple(values)), values
