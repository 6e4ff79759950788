"""Run rendered Argo manifests on this machine, the way the Argo controller would walk them.

DAG tasks run in dependency order; ``templateRef`` resolves into the stage WorkflowTemplates; ``{{inputs.
parameters.X}}``, ``{{tasks.T.outputs.result}}`` and ``{{item}}`` are substituted; ``withParam`` loops over the
JSON list; a task's ``when`` (``A == B`` or ``A != B`` after substitution) skips it when false; a container template runs its command and args (``python`` is this interpreter) and its stdout is
the task's ``outputs.result``; its plain ``env`` values are set, with ``{{workflow.uid}}`` one id per run.  Anything else in an expression is an error, so the test sees what Argo sees.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from typing import Any

EXPRESSION = re.compile(r"{{\s*([^{}]+?)\s*}}")


class ArgoEmulationError(Exception):
    """The manifests would not run on Argo as they are."""


@dataclass
class LocalArgo:
    """The stage WorkflowTemplates and a Workflow; ``run()`` executes the workflow."""

    documents: list[dict[str, Any]]
    ran: list[list[str]] = field(default_factory=list)
    uid: str = field(default_factory=lambda: uuid.uuid4().hex)

    def __post_init__(self) -> None:
        self.stages = {d["metadata"]["name"]: d for d in self.documents if d["kind"] == "WorkflowTemplate"}
        workflows = [d for d in self.documents if d["kind"] == "Workflow"]
        if len(workflows) != 1:
            raise ArgoEmulationError(f"expected one Workflow, got {len(workflows)}")
        self.workflow = workflows[0]

    def run(self) -> None:
        spec = self.workflow["spec"]
        self._template(self.workflow, spec["entrypoint"], {})

    def _template(self, owner: dict[str, Any], name: str, inputs: dict[str, str]) -> str:
        templates = {t["name"]: t for t in owner["spec"]["templates"]}
        if name not in templates:
            raise ArgoEmulationError(f"template {name} not found in {owner['metadata'].get('name')}")
        template = templates[name]
        declared = {p["name"]: p.get("default") for p in template.get("inputs", {}).get("parameters", [])}
        missing = sorted(n for n, default in declared.items() if default is None and n not in inputs)
        if missing or set(inputs) - set(declared):
            raise ArgoEmulationError(f"template {name} declares {sorted(declared)} but got {sorted(inputs)}")
        inputs = {**{n: d for n, d in declared.items() if d is not None}, **inputs}
        if "container" in template:
            return self._container(template["container"], inputs)
        if "dag" in template:
            self._dag(owner, template["dag"]["tasks"], inputs)
            return ""
        raise ArgoEmulationError(f"template {name} is neither a container nor a DAG")

    def _container(self, container: dict[str, Any], inputs: dict[str, str]) -> str:
        command = [_substitute(token, {"inputs.parameters." + k: v for k, v in inputs.items()}) for token in container["command"] + container.get("args", [])]
        command = [sys.executable if i == 0 and token == "python" else token for i, token in enumerate(command)]
        self.ran.append(command)
        scope = {"workflow.uid": self.uid}
        env = {e["name"]: _substitute(e["value"], scope) for e in container.get("env", []) if "value" in e}
        done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **env})
        if done.returncode != 0:
            raise ArgoEmulationError(f"{' '.join(command[:4])} ... exited {done.returncode}: {done.stderr[-2000:]}")
        return done.stdout.strip()

    def _dag(self, owner: dict[str, Any], tasks: list[dict[str, Any]], inputs: dict[str, str]) -> None:
        results: dict[str, str] = {}
        pending = list(tasks)
        while pending:
            ready = [t for t in pending if all(d in results for d in t.get("dependencies", []))]
            if not ready:
                raise ArgoEmulationError(f"unsatisfiable dependencies among {[t['name'] for t in pending]}")
            task = ready[0]
            pending.remove(task)
            scope = {"inputs.parameters." + k: v for k, v in inputs.items()}
            scope |= {f"tasks.{name}.outputs.result": value for name, value in results.items()}
            results[task["name"]] = self._task(owner, task, scope)

    def _task(self, owner: dict[str, Any], task: dict[str, Any], scope: dict[str, str]) -> str:
        if "when" in task and not _holds(_substitute(task["when"], scope)):
            return ""
        if "templateRef" in task:
            ref = task["templateRef"]
            if ref["name"] not in self.stages:
                raise ArgoEmulationError(f"task {task['name']}: WorkflowTemplate {ref['name']} not rendered")
            owner, name = self.stages[ref["name"]], ref["template"]
        else:
            name = task["template"]
        items = json.loads(_substitute(task["withParam"], scope)) if "withParam" in task else [None]
        output = ""
        for item in items:
            here = scope | ({"item": item} if item is not None else {})
            arguments = {p["name"]: _substitute(p["value"], here) for p in task.get("arguments", {}).get("parameters", [])}
            output = self._template(owner, name, arguments)
        return output


def _substitute(text: str, scope: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        if match.group(1) not in scope:
            raise ArgoEmulationError(f"unresolvable expression {match.group(0)}")
        return scope[match.group(1)]

    return EXPRESSION.sub(value, text)


def _holds(condition: str) -> bool:
    """An Argo ``when`` of the form ``A == B`` or ``A != B`` (anything else is an error here)."""
    match = re.fullmatch(r"\s*(\S+)\s*(==|!=)\s*(\S+)\s*", condition)
    if match is None:
        raise ArgoEmulationError(f"unsupported when: {condition!r}")
    return (match.group(1) == match.group(3)) == (match.group(2) == "==")
