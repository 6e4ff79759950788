"""The pipeline as Argo Workflows, built with Hera.

- one ``WorkflowTemplate`` ``em2exm-<stage>`` per stage, derived from its spec (``em2exm.specs``): a container
  template named like the stage (image ``<registry>/em2exm-<stage>:<tag>``, command ``python -m stages.<stage>``)
  whose input parameters are named like the stage's flags: one per URL it reads or writes (optional ones default
  to empty, i.e. unset) plus ``params``, the rest of its options as JSON; blockwise stages add ``<stage>-plan``
  (prints the block ranges), ``<stage>-blocks``, ``<stage>-fanout`` (a DAG looping over the ranges with a
  parallelism cap) and ``<stage>-finalise``, and a stage with passes of its own (decode) ``<stage>-<pass>`` for each,
  plus ``<stage>-<pass>-fanout`` (the same ranges again) for each fanned-out one, and ``<stage>-<pass>-rounds`` for
  one that runs in rounds (decode's flood: a round, its settle pod, and the rounds again while it prints ``again``).  The templates do not depend on the pipeline: the Helm chart ships
  them all and serves any pipeline built from the stages;
- one ``Workflow`` whose DAG calls those templates by ``templateRef``, with the dependencies of the data flow,
  after the preflight ``check`` (and ``check-gpu`` on the GPU pool), templates of the Workflow itself that every
  step reading no other step's output waits for (``workflows.preflight``).

Data moves as zarr URLs in object storage, never as Argo artifacts.  S3 credentials come from a Secret and
the endpoint from a ConfigMap, through the environment.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from em2exm.backends import ArgoSettings
from em2exm.lease import RUN_ID_ENV
from em2exm.pipeline import Pipeline, Step
from em2exm.specs import STAGES, Resources, StageSpec, flag
from hera.workflows import (
    DAG,
    ConfigMapEnv,
    Container,
    EmptyDirVolume,
    Env,
    Parameter,
    RetryStrategy,
    SecretEnv,
    Task,
    Workflow,
    WorkflowTemplate,
)
from hera.workflows import Resources as PodResources
from hera.workflows import models as m

from workflows.preflight import Preflight

API_VERSION = "argoproj.io/v1alpha1"
LABEL = "app.kubernetes.io/part-of"
RETRY_UNLESS_BAD_INPUT = 'lastRetry.status == "Error" || asInt(lastRetry.exitCode) != 2'
"""Retry pod errors and failures, but not exit code 2: bad input fails the same way every time."""
PER_TASK, BLOCKS, RANGES, PARAMS = "per-task", "blocks", "ranges", "params"


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


def parameter(name: str) -> str:
    """The Argo expression of an input parameter."""
    return "{{inputs.parameters.%s}}" % name


def stage_parameters(stage: StageSpec) -> list[Parameter]:
    """A stage template's inputs: its URL flags (optional ones default to empty: unset) and ``params``."""
    fields = stage.params.model_fields
    urls = [Parameter(name=flag(n)) if fields[n].is_required() else Parameter(name=flag(n), default="") for n in stage.urls]
    return [*urls, Parameter(name=PARAMS, default="{}")]


def stage_args(stage: StageSpec) -> list[str]:
    """A stage template's arguments: every URL flag and ``--params`` filled from the parameters of the same name."""
    tokens = [token for n in stage.urls for token in ("--" + flag(n), parameter(flag(n)))]
    return [*tokens, "--" + PARAMS, parameter(PARAMS)]


def _environment(settings: ArgoSettings) -> list[SecretEnv | ConfigMapEnv | Env]:
    """Object-store credentials and endpoint, by reference (never values), and the workflow's run id."""
    secret = [
        SecretEnv(name=key, secret_name=settings.storage_secret, secret_key=key, optional=True)
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    ]
    endpoint = ConfigMapEnv(name="AWS_ENDPOINT_URL", config_map_name=settings.storage_configmap, config_map_key="endpoint", optional=True)
    run_id = Env(name=RUN_ID_ENV, value="{{workflow.uid}}")  # the tasks of one fan-out share an output's lease
    return [*secret, endpoint, run_id]


def _pod(settings: ArgoSettings, name: str, stage: str, command: list[str], args: list[str], inputs: list[Parameter],
         resources: Resources) -> Container:
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
        inputs=inputs or None,
        env=_environment(settings),
        resources=PodResources(cpu_request=quantity_cpu(resources.cpu), memory_request=memory, memory_limit=memory, gpus=gpu or None),
        node_selector=dict(pool.node_selector) or None,
        tolerations=[m.Toleration(**t.model_dump(exclude_none=True)) for t in pool.tolerations] or None,
        volumes=[EmptyDirVolume(name="dshm", mount_path="/dev/shm", medium="Memory",
                                size_limit=m.Quantity(f"{settings.shm_gib}Gi"))] if gpu else None,
        retry_strategy=RetryStrategy(
            limit=settings.retries,
            retry_policy="Always",
            expression=RETRY_UNLESS_BAD_INPUT,
            backoff=m.Backoff(duration=settings.backoff, factor=settings.backoff_factor, max_duration=settings.backoff_max),
        ),
        timeout=settings.step_timeout,
        labels={LABEL: "em2exm", "em2exm/stage": stage},
    )


def _stage_template(settings: ArgoSettings, stage: StageSpec, resources: Resources) -> WorkflowTemplate:
    """The WorkflowTemplate of one stage: its container template, and for a blockwise stage the fan-out ones."""
    inputs, args = stage_parameters(stage), stage_args(stage)
    names = [p.name for p in inputs if p.name]  # stage_parameters names every parameter
    command = ["python", "-m", f"stages.{stage.module}"]
    with WorkflowTemplate(
        name=template_name(stage.name),
        namespace=settings.namespace,
        labels={LABEL: "em2exm", "em2exm/stage": stage.name},
        api_version=API_VERSION,
        kind="WorkflowTemplate",
    ) as template:
        _pod(settings, stage.name, stage.name, command, args, inputs, resources)
        if stage.blockwise:
            plan, ranges = Parameter(name=PER_TASK), Parameter(name=RANGES)
            _pod(settings, f"{stage.name}-plan", stage.name, command, [*args, "--plan-blocks", parameter(PER_TASK)],
                 [*inputs, plan], resources)
            blocks = _pod(settings, f"{stage.name}-blocks", stage.name, command, [*args, "--blocks", parameter(BLOCKS)],
                          [*inputs, Parameter(name=BLOCKS)], resources)
            _pod(settings, f"{stage.name}-finalise", stage.name, command, [*args, "--finalise"], inputs, resources)
            _fanout(settings, f"{stage.name}-fanout", blocks, inputs, ranges, names)
            fanouts = {}
            for step in stage.passes:
                if step.fanned:
                    pod = _pod(settings, f"{stage.name}-{step.name}", stage.name, command,
                               [*args, f"--{step.name}", parameter(BLOCKS)], [*inputs, Parameter(name=BLOCKS)], resources)
                    fanouts[step.name] = _fanout(settings, f"{stage.name}-{step.name}-fanout", pod, inputs, ranges,
                                                 names)
                else:
                    pod = _pod(settings, f"{stage.name}-{step.name}", stage.name, command, [*args, f"--{step.name}"],
                               inputs, resources)
                    if step.settles:
                        _rounds(f"{stage.name}-{step.settles}-rounds", fanouts[step.settles], pod, inputs, ranges, names)
    return template


def _fanout(settings: ArgoSettings, name: str, pod: Container, inputs: list[Parameter], ranges: Parameter,
            names: list[str]) -> DAG:
    """A DAG running ``pod`` once per block range, at most ``fanout_parallelism`` at a time."""
    with DAG(name=name, inputs=[*inputs, ranges], parallelism=settings.fanout_parallelism) as fanout:
        Task(name=BLOCKS, template=pod, with_param=parameter(RANGES),
             arguments={**{n: parameter(n) for n in names}, BLOCKS: "{{item}}"})
    return fanout


def _rounds(name: str, fanout: DAG, settle: Container, inputs: list[Parameter], ranges: Parameter,
            names: list[str]) -> None:
    """A DAG of one round of ``fanout``, then ``settle``, then itself again while the settle prints ``again``."""
    values = {n: parameter(n) for n in names}
    with DAG(name=name, inputs=[*inputs, ranges]):
        Task(name="round", template=fanout, arguments={**values, RANGES: parameter(RANGES)})
        Task(name="settle", template=settle, arguments=values, dependencies=["round"])
        Task(name="again", template=name, arguments={**values, RANGES: parameter(RANGES)}, dependencies=["settle"],
             when="{{tasks.settle.outputs.result}} == again")


def stage_templates(settings: ArgoSettings, resources: Mapping[str, Resources] | None = None,
                    stages: Iterable[str] | None = None) -> list[WorkflowTemplate]:
    """The WorkflowTemplates of ``stages`` (default: every stage), with ``resources`` per stage (default: the
    specs')."""
    chosen = list(STAGES) if stages is None else list(dict.fromkeys(stages))
    given = resources or {}
    return [_stage_template(settings, STAGES[name], given.get(name, STAGES[name].resources)) for name in chosen]


def _arguments(step: Step) -> dict[str, str]:
    """A step's values for its stage template's parameters (unset optional URLs keep their empty default)."""
    return {**step.urls, PARAMS: step.options}


def _tasks(pipeline: Pipeline, step: Step, preflight: Preflight) -> list[Task]:
    """The DAG task(s) of one step; dependents depend on the task named after the step; a step that reads no
    other step's output waits for the checks."""
    stage, values = template_name(step.stage), _arguments(step)
    needs = pipeline.needs(step) or list(preflight.names)
    if step.fanout <= 0:
        return [Task(name=step.name, template_ref=m.TemplateRef(name=stage, template=step.stage), arguments=values,
                     dependencies=needs)]
    plan, fanout = f"{step.name}-plan", f"{step.name}-blocks"
    ranges = "{{tasks.%s.outputs.result}}" % plan

    def ref(kind: str) -> m.TemplateRef:
        return m.TemplateRef(name=stage, template=f"{step.stage}-{kind}")

    tasks = [
        Task(name=plan, template_ref=ref("plan"), arguments={**values, PER_TASK: str(step.fanout)}, dependencies=needs),
        Task(name=fanout, template_ref=ref("fanout"), arguments={**values, RANGES: ranges}, dependencies=[plan]),
    ]
    settled = {p.settles for p in step.spec.passes if p.settles}
    for later in step.spec.passes:
        after = tasks[-1].name
        if later.settles:
            continue  # inside its fanned-out pass's rounds
        if later.fanned:
            kind = "rounds" if later.name in settled else "fanout"
            tasks.append(Task(name=f"{step.name}-{later.name}", template_ref=ref(f"{later.name}-{kind}"),
                              arguments={**values, RANGES: ranges}, dependencies=[after]))
        else:
            tasks.append(Task(name=f"{step.name}-{later.name}", template_ref=ref(later.name), arguments=values,
                              dependencies=[after]))
    return [*tasks, Task(name=step.name, template_ref=ref("finalise"), arguments=values, dependencies=[tasks[-1].name])]


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
        checks = {name: _pod(settings, name, preflight.stage(name), ["python", "-m", "em2exm"], preflight.args(name), [],
                             preflight.resources(name)) for name in preflight.names}
        with DAG(name="pipeline"):
            for name, template in checks.items():
                Task(name=name, template=template)
            for step in pipeline.steps:
                _tasks(pipeline, step, preflight)
    return workflow
