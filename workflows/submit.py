"""Submit the pipeline to an Argo server through Hera's WorkflowsService and optionally follow it."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

import requests
from em2exm.errors import UserError
from hera.exceptions import HeraException
from hera.workflows import WorkflowsService

from workflows.render import Manifests

log = logging.getLogger("em2exm.workflow")
DONE = ("Succeeded", "Failed", "Error")
Result = TypeVar("Result")


def _talk(service: WorkflowsService, call: Callable[[], Result]) -> Result:
    """Run one request; unreachable servers and refusals become UserErrors."""
    try:
        return call()
    except requests.ConnectionError as exc:
        raise UserError(f"cannot reach the Argo server at {service.host}", "check --host (and any port-forward)") from exc
    except HeraException as exc:
        raise UserError(f"the Argo server at {service.host} refused the request: {exc}", "check --namespace and the token") from exc


def submit(manifests: Manifests, service: WorkflowsService, templates: bool) -> str:
    """Create the workflow (with ``templates``, first create or update the stage templates); return its name."""
    if templates:
        for template in manifests.templates:
            template.workflows_service = service
            _talk(service, template.update)
            log.info("workflow template %s is up to date", template.name)
    workflow = manifests.workflow
    workflow.workflows_service = service
    created = _talk(service, workflow.create)
    return created.metadata.name or ""


def follow(service: WorkflowsService, name: str, namespace: str, poll: float) -> str:
    """Poll the workflow until it has finished, logging each change of phase or progress; return the phase."""
    seen = None
    while True:
        workflow = _talk(service, lambda: service.get_workflow(name, namespace=namespace))
        status = workflow.status
        phase = (status.phase if status else None) or "Pending"
        now = (phase, status.progress if status else None)
        if now != seen:
            log.info("%s: %s %s", name, phase, now[1] or "")
            seen = now
        if phase in DONE:
            return phase
        time.sleep(poll)
