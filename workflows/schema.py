"""Validate Argo manifests against the Argo Workflows JSON schema, strictly.

The upstream schema never sets ``additionalProperties: false``, so a misspelled field would pass; strict mode
injects it into every object schema that lists properties.  IntOrString and Quantity also accept integers
(YAML writes ``cpu: 2``), as the API server does.
"""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from em2exm.errors import UserError
from jsonschema import Draft202012Validator

SCHEMA_NAME = "argo-workflows-v4.1.2.schema.json"
DEFAULT_SCHEMA = Path(__file__).resolve().parents[2] / "shared" / "schemas" / SCHEMA_NAME
PREFIX = "io.argoproj.workflow.v1alpha1."
NUMBER_OR_STRING = ("io.k8s.apimachinery.pkg.util.intstr.IntOrString", "io.k8s.apimachinery.pkg.api.resource.Quantity")


def strict(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``schema`` that rejects unknown fields and accepts integers for IntOrString/Quantity."""
    schema = copy.deepcopy(schema)

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            if "properties" in node and "additionalProperties" not in node:
                node["additionalProperties"] = False
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(schema)
    for name in NUMBER_OR_STRING:
        schema["definitions"][name]["type"] = ["string", "integer"]
    return schema


@lru_cache(maxsize=4)
def _validators(path: str) -> dict[str, Draft202012Validator]:
    try:
        schema = strict(json.loads(Path(path).read_text()))
    except FileNotFoundError as exc:
        raise UserError(f"Argo schema {path} not found", f"pass --schema pointing at {SCHEMA_NAME}") from exc
    kinds = [ref["$ref"].rsplit(".", 1)[-1] for ref in schema["oneOf"]]
    return {
        kind: Draft202012Validator({"$ref": f"#/definitions/{PREFIX}{kind}", "definitions": schema["definitions"]})
        for kind in kinds
    }


def errors(document: dict[str, Any], schema: Path = DEFAULT_SCHEMA) -> list[str]:
    """Every schema violation of one manifest, as ``path: message`` lines (empty when valid)."""
    validators = _validators(str(schema))
    kind = document.get("kind")
    if kind not in validators:
        return [f"kind: '{kind}' is not an Argo kind ({', '.join(sorted(validators))})"]
    found = sorted(validators[kind].iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{'.'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in found]
