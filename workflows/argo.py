"""The pipeline as Argo Workflows, built with Hera.

- one ``WorkflowTemplate`` ``em2exm-<stage>`` per stage: a container template per argument shape (image
  ``<registry>/em2exm-<stage>:<tag>``, command ``python -m stages.<stage>``, args from input parameters);
  blockwise stages add ``-plan`` (prints the block ranges), ``-blocks``, ``-fanout`` (a DAG looping over the
  ranges with a parallelism cap) and ``-finalise`` templates;
- one ``Workflow`` whose DAG calls those templates by ``templateRef``, with the dependencies of the data flow,
  after the preflight ``check`` (and ``check-gpu`` on the GPU pool), templates of the Workflow itself that every
  step reading no other step's output waits for (``workflows.preflight``).

Data moves as zarr URLs in object storage, never as Argo artifacts.  S3 credentials come from a Secret and
the endpoint from a ConfigMap, through the environment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from em2exm.lease import RUN_ID_ENV
from em2exm.pipeline import Pipeline, Step
from em2exm.pipeline import Resources as PipelineResources
from hera.workflows import (
    DAG,
    ConfigMapEnv,
    Container,
    EmptyDirVolume,
    Env,
    Parameter,
    Resources,
    RetryStrategy,
    SecretEnv,
    Task,
    Workflow,
    WorkflowTemplate,
)
from hera.workflows import models as m

from workflows.preflight import Preflight
from workflows.settings import ArgoSettings
from workflows.shape import Shape, parameter, split

API_VERSION = "argoproj.io/v1alpha1"
LABEL = "app.kubernetes.io/part-of"
RETRY_UNLESS_BAD_INPUT = 'lastRetry.status == "Error" || asInt(lastRetry.exitCode) != 2'
"""Retry pod errors and failures, but not exit code 2: bad input fails the same way every time."""
PER_TASK, BLOCKS, RANGES = "per-task", "blocks", "ranges"


def template_name(stage: str) -> str:
    """The WorkflowTemplate of a stage."""
    return f"em2exm-{stage}"


def image(settings: ArgoSettings, stage: str) -> str:
    """The container image of a stage."""
    return f"{settings.registry}/em2exm-{stage}:{settings.tag}"


def quantity_gib(gib: float) -> str:
    """Memory as a Kubernetes quantity."""
    return f"{int(gib)}Gi" if float(gib).is_integer() else f"{round(gib * 1024)}Mi"


def quantity_cpu(cpu: float) -> str:
    """CPUs as a Kubernetes quantity."""
    return str(int(cpu)) if float(cpu).is_integer() else f"{round(cpu * 1000)}m"


def dns_name(text: str) -> str:
    """``text`` as a Kubernetes name part (lowercase letters, digits, '-')."""
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-") or "em2exm"


@dataclass(frozen=True)
class Variant:
    """The template one step runs: its stage, argument shape and whether it fans out."""

    step: Step
    shape: Shape
    values: dict[str, str]

    @classmethod
    def of(cls, step: Step) -> Variant:
        shape, values = split(step)
        return cls(step, shape, values)

    @property
    def name(self) -> str:
        """Template name within the stage's WorkflowTemplate, stable for the same argument shape.

        Resources are not part of it (they are per stage, and the chart sets them from its values), so a
        config that changes resources still calls the chart's templates.
        """
        return "run-" + self.shape.key(self.step.fanout > 0)


def _environment(settings: ArgoSettings) -> list[SecretEnv | ConfigMapEnv | Env]:
    """Object-store credentials and endpoint, by reference (never values), and the workflow's run id."""
    secret = [
        SecretEnv(name=key, secret_name=settings.storage_secret, secret_key=key, optional=True)
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    ]
    endpoint = ConfigMapEnv(name="AWS_ENDPOINT_URL", config_map_name=settings.storage_configmap, config_map_key="endpoint", optional=True)
    run_id = Env(name=RUN_ID_ENV, value="{{workflow.uid}}")  # the tasks of one fan-out share an output's lease
    return [*secret, endpoint, run_id]


def _container(settings: ArgoSettings, variant: Variant, name: str, tokens: tuple[str, ...], names: tuple[str, ...]) -> Container:
    """A container template running the stage entry point with ``tokens`` as arguments."""
    step = variant.step
    return _pod(settings, name, step.stage, ["python", "-m", step.module], list(tokens), names, step.resources)


def _pod(settings: ArgoSettings, name: str, stage: str, command: list[str], args: list[str], names: tuple[str, ...],
         resources: PipelineResources) -> Container:
    """A container template in ``stage``'s image, on the pool and with the resources ``resources`` ask for."""
    gpu = resources.gpu
    pool = settings.gpu_pool if gpu > 0 else settings.cpu_pool
    memory = quantity_gib(resources.memory_gib)
    return Container(
        name=name,
        image=image(settings, stage),
        image_pull_policy=settings.image_pull_policy,
        command=command,
        args=args,
        inputs=[Parameter(name=n) for n in names] or None,
        env=_environment(settings),
        resources=Resources(cpu_request=quantity_cpu(resources.cpu), memory_request=memory, memory_limit=memory, gpus=gpu or None),
        node_selector=dict(pool.node_selector) or None,
        tolerations=[m.Toleration(**t.model_dump(exclude_none=True)) for t in pool.tolerations] or None,
        volumes=[EmptyDirVolume(name="dshm", mount_path="/dev/shm", medium="Memory", size_limit=f"{settings.shm_gib}Gi")] if gpu else None,
        retry_strategy=RetryStrategy(
            limit=settings.retries,
            retry_policy="Always",
            expression=RETRY_UNLESS_BAD_INPUT,
            backoff=m.Backoff(duration=settings.backoff, factor=settings.backoff_factor, max_duration=settings.backoff_max),
        ),
        timeout=settings.step_timeout,
        labels={LABEL: "em2exm", "em2exm/stage": stage},
    )


def _stage_templates(settings: ArgoSettings, variant: Variant) -> None:
    """Add the templates of one variant to the WorkflowTemplate being built."""
    tokens, names = variant.shape.tokens, variant.shape.names
    if variant.step.fanout <= 0:
        _container(settings, variant, variant.name, tokens, names)
        return
    base = variant.name
    _container(settings, variant, f"{base}-plan", (*tokens, "--plan-blocks", parameter(PER_TASK)), (*names, PER_TASK))
    blocks = _container(settings, variant, f"{base}-blocks", (*tokens, "--blocks", parameter(BLOCKS)), (*names, BLOCKS))
    _container(settings, variant, f"{base}-finalise", (*tokens, "--finalise"), names)
    with DAG(name=f"{base}-fanout", inputs=[Parameter(name=n) for n in (*names, RANGES)], parallelism=settings.fanout_parallelism):
        Task(
            name=BLOCKS,
            template=blocks,
            with_param=parameter(RANGES),
            arguments={**{n: parameter(n) for n in names}, BLOCKS: "{{item}}"},
        )


def stage_templates(pipeline: Pipeline, settings: ArgoSettings) -> list[WorkflowTemplate]:
    """One WorkflowTemplate per stage of ``pipeline``, holding a template per argument shape."""
    variants: dict[str, dict[str, Variant]] = {}
    for step in pipeline.steps:
        variant = Variant.of(step)
        variants.setdefault(step.stage, {}).setdefault(variant.name, variant)
    built = []
    for stage, by_name in variants.items():
        with WorkflowTemplate(
            name=template_name(stage),
            namespace=settings.namespace,
            labels={LABEL: "em2exm", "em2exm/stage": stage},
            api_version=API_VERSION,
            kind="WorkflowTemplate",
        ) as template:
            for name in sorted(by_name):
                _stage_templates(settings, by_name[name])
        built.append(template)
    return built


def _tasks(pipeline: Pipeline, step: Step, preflight: Preflight) -> list[Task]:
    """The DAG task(s) of one step; dependents depend on the task named after the step; a step that reads no
    other step's output waits for the checks."""
    variant = Variant.of(step)
    stage = template_name(step.stage)
    needs = pipeline.needs(step) or list(preflight.names)
    if step.fanout <= 0:
        ref = m.TemplateRef(name=stage, template=variant.name)
        return [Task(name=step.name, template_ref=ref, arguments=variant.values, dependencies=needs)]
    plan, fanout = f"{step.name}-plan", f"{step.name}-blocks"
    ranges = "{{tasks.%s.outputs.result}}" % plan
    return [
        Task(name=plan, template_ref=m.TemplateRef(name=stage, template=f"{variant.name}-plan"), arguments={**variant.values, PER_TASK: str(step.fanout)}, dependencies=needs),
        Task(name=fanout, template_ref=m.TemplateRef(name=stage, template=f"{variant.name}-fanout"), arguments={**variant.values, RANGES: ranges}, dependencies=[plan]),
        Task(name=step.name, template_ref=m.TemplateRef(name=stage, template=f"{variant.name}-finalise"), arguments=variant.values, dependencies=[fanout]),
    ]


def pipeline_workflow(pipeline: Pipeline, settings: ArgoSettings, run_name: str, preflight: Preflight) -> Workflow:
    """The pipeline's Workflow: the checks (templates of its own), then a DAG of the steps calling the stage templates."""
    labels = {LABEL: "em2exm", "em2exm/run": dns_name(run_name)}
    with Workflow(
        generate_name=f"{dns_name(run_name)}-",
        namespace=settings.namespace,
        entrypoint="pipeline",
        service_account_name=settings.service_account,
        parallelism=settings.parallelism,
        active_deadline_seconds=settings.active_deadline_seconds,
        pod_gc=m.PodGC(strategy="OnPodSuccess"),
        ttl_strategy=m.TTLStrategy(seconds_after_completion=settings.ttl_seconds),
        pod_metadata=m.Metadata(labels=labels),
        labels=labels,
        api_version=API_VERSION,
        kind="Workflow",
    ) as workflow:
        checks = {name: _pod(settings, name, preflight.stage(name), ["python", "-m", "em2exm"], preflight.args(name), (),
                             preflight.resources(name)) for name in preflight.names}
        with DAG(name="pipeline"):
            for name, template in checks.items():
                Task(name=name, template=template)
            for step in pipeline.steps:
                _tasks(pipeline, step, preflight)
    return workflow
