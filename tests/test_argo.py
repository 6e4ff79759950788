"""The Argo backend: strict schema validation, the DAG against the data flow, running the rendered commands,
submitting to an Argo server (a recording HTTP server on 127.0.0.1)."""

from __future__ import annotations

import copy
import json
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from argo_local import LocalArgo
from backends import (  # noqa: F401 - session fixtures
    INGEST_ONLY,
    ONE_EXPERIMENT,
    assert_same_outputs,
    cli,
    ingest_only_reference_fixture,
    one_experiment_reference_fixture,
    pipeline_config,
)
from conftest import REPO, SHARED, run_cli
from em2exm.cli import main as em2exm_main
from em2exm.pipeline import build_pipeline
from em2exm.specs import STAGES, flag

from workflows import schema
from workflows.render import build
from workflows.settings import load

SCHEMA = SHARED / "schemas" / schema.SCHEMA_NAME
POOLS = """
argo:
  registry: registry.test/em2exm
  tag: "9.9"
  namespace: science
  cpu_pool: {node_selector: {pool: cpu}, tolerations: [{key: spot, operator: Exists, effect: NoSchedule}]}
  gpu_pool: {node_selector: {pool: gpu}, tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]}
  fanout_parallelism: 3
"""


def _documents(folder: Path) -> list[dict[str, Any]]:
    return [yaml.safe_load(p.read_text()) for p in sorted(folder.glob("*.yaml"))]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    folder = tmp_path_factory.mktemp("rendered")
    config = pipeline_config(folder, folder / "store", POOLS)
    assert em2exm_main(["workflow", "render", str(config), "-o", str(folder / "out")]) == 0
    return config, _documents(folder / "out")


def test_rendered_manifests_validate_strictly(rendered, capsys):
    config, documents = rendered
    kinds = sorted({d["kind"] for d in documents})
    assert kinds == ["Workflow", "WorkflowTemplate"]
    for document in documents:
        assert schema.errors(document, SCHEMA) == [], document["metadata"]
    lint = cli(capsys, "workflow", "lint", str(config), "--schema", str(SCHEMA))
    assert lint.code == 0 and "valid" in lint.stdout, lint.stderr


def test_strict_validator_rejects_misspelled_fields(rendered):
    _, documents = rendered
    template = next(d for d in documents if d["kind"] == "WorkflowTemplate")
    typo = copy.deepcopy(template)
    container = typo["spec"]["templates"][0]["container"]
    container["imagePulPolicy"] = container.pop("imagePullPolicy")
    problems = schema.errors(typo, SCHEMA)
    assert problems and "imagePulPolicy" in " ".join(problems)
    loose = json.loads(SCHEMA.read_text())
    loose_validator = schema.Draft202012Validator({"$ref": f"#/definitions/{schema.PREFIX}WorkflowTemplate", "definitions": loose["definitions"]})
    loose_problems = " ".join(e.message for e in loose_validator.iter_errors(typo))
    assert "imagePulPolicy" not in loose_problems, "the upstream schema alone lets the typo through"
    numbers = copy.deepcopy(template)
    numbers["spec"]["templates"][0]["container"]["resources"]["requests"]["cpu"] = 2
    assert schema.errors(numbers, SCHEMA) == [], "integers are valid quantities"
    assert schema.errors({**template, "kind": "Pod"}, SCHEMA)


def _fill(template: dict[str, Any], task: dict[str, Any]) -> list[str]:
    """The container args with the task's arguments (else the parameters' defaults) substituted, as Argo does."""
    defaults = {p["name"]: p["default"] for p in template["inputs"]["parameters"] if "default" in p}
    given = {p["name"]: p["value"] for p in task["arguments"]["parameters"]}
    values = {"{{inputs.parameters.%s}}" % name: value for name, value in {**defaults, **given}.items()}
    return [values.get(arg, arg) for arg in template["container"]["args"]]


def _all_args(step: Any) -> list[str]:
    """The step's arguments as its stage template spells them: every URL flag (unset: empty), then --params."""
    urls = [token for n in step.spec.urls for token in ("--" + flag(n), step.urls.get(flag(n), ""))]
    return [*urls, "--params", step.options]


def _task_template(by_name: dict[str, Any], task: dict[str, Any]) -> dict[str, Any]:
    ref = task["templateRef"]
    return next(t for t in by_name[ref["name"]]["spec"]["templates"] if t["name"] == ref["template"])


def _rounds_fanout(document: dict[str, Any], rounds: dict[str, Any]) -> dict[str, Any]:
    """Check a rounds DAG (a round of the fan-out, the settle pod, itself again while the settle prints ``again``)
    and return its fan-out's template."""
    own = {t["name"]: t for t in document["spec"]["templates"]}
    tasks = {t["name"]: t for t in rounds["dag"]["tasks"]}
    assert list(tasks) == ["round", "settle", "again"]
    assert tasks["settle"]["dependencies"] == ["round"] and tasks["again"]["dependencies"] == ["settle"]
    assert tasks["again"]["template"] == rounds["name"] and tasks["again"]["when"] == (
        "{{tasks.settle.outputs.result}} == again")
    assert own[tasks["settle"]["template"]]["container"]["args"][-1] == "--settle"
    for task in tasks.values():  # each passes the round's parameters on as they came
        assert all(p["value"] == "{{inputs.parameters.%s}}" % p["name"] for p in task["arguments"]["parameters"])
    return own[tasks["round"]["template"]]


def test_dag_follows_data_flow_and_pools(rendered):
    config_path, documents = rendered
    config, settings, _ = load(str(config_path))
    pipeline = build_pipeline(config)
    templates = {d["metadata"]["name"]: d for d in documents if d["kind"] == "WorkflowTemplate"}
    workflow = next(d for d in documents if d["kind"] == "Workflow")
    own = {t["name"]: t for t in workflow["spec"]["templates"]}
    tasks = {t["name"]: t for t in own["pipeline"]["dag"]["tasks"]}
    checks = ["check", "check-gpu"]
    for step in pipeline.steps:
        task = tasks[step.name]
        runs = [task]
        if step.fanout:
            plan, fan = tasks[f"{step.name}-plan"], tasks[f"{step.name}-blocks"]
            assert sorted(plan.get("dependencies", [])) == sorted(pipeline.needs(step) or checks)
            assert fan["dependencies"] == [plan["name"]]
            fans, flags, last = [fan], ["--blocks"], fan
            for later in step.spec.passes:  # decode: merge, the flood's rounds, number, the apply fan-out; in a chain
                if later.settles:
                    continue  # inside the rounds of the pass it settles
                this = tasks[f"{step.name}-{later.name}"]
                assert this["dependencies"] == [last["name"]]
                if later.fanned:
                    fans.append(this)
                    flags.append(f"--{later.name}")
                else:
                    assert _fill(_task_template(templates, this), this) == [*_all_args(step), f"--{later.name}"]
                last = this
            assert task["dependencies"] == [last["name"]]
            for fanned, flag in zip(fans, flags):
                assert fanned["arguments"]["parameters"][-1]["value"] == "{{tasks.%s.outputs.result}}" % plan["name"]
                loop = _task_template(templates, fanned)
                if fanned["templateRef"]["template"].endswith("-rounds"):
                    loop = _rounds_fanout(templates[fanned["templateRef"]["name"]], loop)
                assert loop["parallelism"] == settings.fanout_parallelism and loop["dag"]["tasks"][0]["withParam"]
                pod = next(t for t in templates[fanned["templateRef"]["name"]]["spec"]["templates"]
                           if t["name"] == loop["dag"]["tasks"][0]["template"])
                assert pod["container"]["args"][-2:] == [flag, "{{inputs.parameters.blocks}}"]
            runs.append(plan)
        else:
            assert sorted(task.get("dependencies", [])) == sorted(pipeline.needs(step) or checks)
        for run in runs:
            template = _task_template(templates, run)
            container = template["container"]
            assert container["image"] == f"registry.test/em2exm/em2exm-{step.stage}:9.9"
            assert container["command"] == ["python", "-m", step.module]
            mode = ["--plan-blocks", str(step.fanout)] if run is not task else (["--finalise"] if step.fanout else [])
            assert _fill(template, run) == [*_all_args(step), *mode]
            resources = container["resources"]
            pool = settings.gpu_pool if step.resources.gpu else settings.cpu_pool
            assert template["nodeSelector"] == pool.node_selector
            assert [t["key"] for t in template["tolerations"]] == [t.key for t in pool.tolerations]
            if step.resources.gpu:
                assert resources["requests"]["nvidia.com/gpu"] == resources["limits"]["nvidia.com/gpu"] == str(step.resources.gpu)
                assert template["volumes"][0]["emptyDir"]["medium"] == "Memory"
            else:
                assert "nvidia.com/gpu" not in resources["requests"]
            assert template["retryStrategy"]["backoff"]["factor"] == settings.backoff_factor
    def step_tasks(step: Any) -> list[str]:
        phases = (["plan", "blocks"] + [p.name for p in step.spec.passes if not p.settles]) if step.fanout else []
        return [step.name, *(f"{step.name}-{phase}" for phase in phases)]

    assert set(tasks) == {*checks, *(n for s in pipeline.steps for n in step_tasks(s))}
    first_gpu_stage = next(s.stage for s in pipeline.steps if s.resources.gpu)
    for name, stage, pool, mode in (("check", "ingest", settings.cpu_pool, "skip"), ("check-gpu", first_gpu_stage, settings.gpu_pool, "require")):
        check, container = own[name], own[name]["container"]
        assert tasks[name]["template"] == name and "dependencies" not in tasks[name]
        assert container["image"] == f"registry.test/em2exm/em2exm-{stage}:9.9" and check["nodeSelector"] == pool.node_selector
        assert container["command"] == ["python", "-m", "em2exm"] and container["args"][:2] == ["check", "--params"]
        assert container["args"][3:] == ["--gpu", mode] and json.loads(container["args"][2]) == config.model_dump(mode="json", exclude_defaults=True)
        assert ("nvidia.com/gpu" in container["resources"]["limits"]) == (name == "check-gpu")
    assert workflow["metadata"]["namespace"] == "science" and workflow["spec"]["podGC"]["strategy"]
    assert workflow["spec"]["activeDeadlineSeconds"] == settings.active_deadline_seconds


def test_templates_are_named_by_stage_with_parameters_named_like_its_flags(rendered):
    """One WorkflowTemplate per stage, a template named like the stage whose parameters are the stage's URL flags
    (optional ones default to empty: unset) and ``params``; blockwise stages add the fan-out templates."""
    _, documents = rendered
    templates = {d["metadata"]["name"]: d for d in documents if d["kind"] == "WorkflowTemplate"}
    assert templates
    for name, document in templates.items():
        stage = STAGES[document["metadata"]["labels"]["em2exm/stage"]]
        assert name == f"em2exm-{stage.name}"
        own = {t["name"]: t for t in document["spec"]["templates"]}
        kinds = ["plan", "blocks", "finalise", "fanout"] if stage.blockwise else []
        kinds += [k for p in stage.passes for k in (p.name, *([f"{p.name}-fanout"] if p.fanned else []),
                                                    *([f"{p.settles}-rounds"] if p.settles else []))]
        assert set(own) == {stage.name, *(f"{stage.name}-{k}" for k in kinds)}
        parameters = {p["name"]: p.get("default") for p in own[stage.name]["inputs"]["parameters"]}
        optional = {flag(n) for n in stage.urls if not stage.params.model_fields[n].is_required()}
        assert parameters == {**{flag(n): "" if flag(n) in optional else None for n in stage.urls}, "params": "{}"}


def test_credentials_only_by_reference(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "do-not-leak-me")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "do-not-leak-id")
    config = pipeline_config(tmp_path, tmp_path / "store", "argo: {storage_secret: lab-s3, storage_configmap: lab-store}\n")
    assert cli(capsys, "workflow", "render", str(config), "-o", str(tmp_path / "out")).code == 0
    text = "".join(p.read_text() for p in (tmp_path / "out").glob("*.yaml"))
    assert "do-not-leak" not in text and "kind: Secret" not in text
    template = yaml.safe_load((tmp_path / "out" / "em2exm-ingest.yaml").read_text())
    variables = template["spec"]["templates"][0]["container"]["env"]
    env = {e["name"]: e["valueFrom"] for e in variables if "valueFrom" in e}
    assert {e["name"]: e["value"] for e in variables if "value" in e} == {"EM2EXM_RUN_ID": "{{workflow.uid}}"}
    assert env["AWS_ACCESS_KEY_ID"]["secretKeyRef"]["name"] == env["AWS_SECRET_ACCESS_KEY"]["secretKeyRef"]["name"] == "lab-s3"
    assert env["AWS_ENDPOINT_URL"]["configMapKeyRef"] == {"name": "lab-store", "key": "endpoint", "optional": True}


def test_unknown_argo_setting_is_named(tmp_path):  # the real CLI, in a process of its own
    config = pipeline_config(tmp_path, tmp_path / "store", "argo: {registy: x}\n")
    result = run_cli("workflow", "render", str(config), "-o", str(tmp_path / "out"))
    assert result.code == 2 and "registy" in result.stderr and "registry" in result.stderr


def _emulate_and_compare(tmp_path: Path, sets: tuple[str, ...], expected: Path) -> LocalArgo:
    folder = tmp_path / "argo"
    config = pipeline_config(folder, folder / "store")
    assert em2exm_main(["workflow", "render", str(config), "-o", str(folder / "out"), *sets]) == 0
    argo = LocalArgo(_documents(folder / "out"))
    argo.run()
    assert_same_outputs(expected, folder / "store")
    return argo


def test_rendered_commands_produce_what_em2exm_run_produces(tmp_path, ingest_only_reference):
    argo = _emulate_and_compare(tmp_path, INGEST_ONLY, ingest_only_reference)
    assert [c[2] for c in argo.ran] == ["em2exm", "stages.ingest", "stages.ingest", "stages.visualize"]
    assert argo.ran[0][3:5] == ["check", "--params"] and argo.ran[0][-2:] == ["--gpu", "skip"]


@pytest.mark.slow
def test_rendered_blockwise_commands_produce_what_em2exm_run_produces(tmp_path, one_experiment_reference):
    on_cpu = ("--set", "resources.seg-train.gpu=0", "--set", "resources.seg-infer.gpu=0")  # else check-gpu fails here
    argo = _emulate_and_compare(tmp_path, (*ONE_EXPERIMENT, *on_cpu), one_experiment_reference)
    modes = [c[-1] if c[-1] == "--finalise" else c[-2] for c in argo.ran if c[2] == "stages.seg_infer"]
    assert modes[0] == "--plan-blocks" and modes.count("--blocks") > 1 and modes[-1] == "--finalise"


class _ArgoServer(BaseHTTPRequestHandler):
    """Records requests; answers like the Argo server for create, get and template get/create."""

    requests: list[dict[str, Any]] = []
    polls = 0
    created: dict[str, Any] = {}

    def _reply(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _record(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        entry = {"method": self.command, "path": self.path, "auth": self.headers.get("Authorization"), "body": body}
        type(self).requests.append(entry)
        return entry

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        entry = self._record()
        if "/workflow-templates/" in self.path:
            self._reply(200, entry["body"]["template"])
        else:
            workflow = entry["body"]["workflow"]
            type(self).created = {**workflow, "metadata": {**workflow["metadata"], "name": "demo-x7k2p"}}
            self._reply(200, type(self).created)

    def do_GET(self) -> None:  # noqa: N802
        self._record()
        if "/workflow-templates/" in self.path:
            self._reply(404, {"code": 5, "message": "not found"})
            return
        type(self).polls += 1
        phase = "Running" if type(self).polls < 2 else "Succeeded"
        self._reply(200, {**type(self).created, "status": {"phase": phase, "progress": f"{type(self).polls}/3"}})

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def argo_server() -> Iterator[str]:
    _ArgoServer.requests, _ArgoServer.polls = [], 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ArgoServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_submit_posts_the_rendered_workflow_with_a_bearer_token(demo_config, argo_server, monkeypatch, capsys):
    monkeypatch.setenv("LAB_TOKEN", "s3cr3t")
    args = ("workflow", "submit", str(demo_config), "--host", argo_server, "--namespace", "lab", "--token-env", "LAB_TOKEN")
    result = cli(capsys, *args, "--templates", "--wait", "--poll", "0.1")
    assert result.code == 0, result.stderr
    assert "submitted lab/demo-x7k2p" in result.stdout and "demo-x7k2p: Succeeded" in result.stdout
    config, settings, _ = load(str(demo_config))
    settings.namespace = "lab"
    expected = build(config, settings)
    posted = [r for r in _ArgoServer.requests if r["method"] == "POST"]
    assert all(r["auth"] == "Bearer s3cr3t" for r in _ArgoServer.requests)
    assert [r["path"] for r in posted] == ["/api/v1/workflow-templates/lab"] * len(expected.templates) + ["/api/v1/workflows/lab"]
    assert [r["body"]["template"] for r in posted[:-1]] == [t.to_dict() for t in expected.templates]
    assert posted[-1]["body"]["workflow"] == expected.workflow.to_dict()
    assert _ArgoServer.polls >= 2


def test_submit_errors_are_one_line(demo_config, argo_server, capsys):
    missing = cli(capsys, "workflow", "submit", str(demo_config), "--host", argo_server, "--token-env", "NO_SUCH_VAR_X")
    assert missing.code == 2 and "NO_SUCH_VAR_X" in missing.stderr
    with socket.socket() as closed:  # bound, never listening: connections are refused
        closed.bind(("127.0.0.1", 0))
        down = cli(capsys, "workflow", "submit", str(demo_config), "--host", f"http://127.0.0.1:{closed.getsockname()[1]}")
    assert down.code == 2 and "cannot reach the Argo server" in down.stderr


def test_demo_module_exposes_hera_objects(tmp_path):
    from hera.workflows import Workflow, WorkflowTemplate

    import workflows.demo as demo

    assert isinstance(demo.workflow, Workflow)
    assert isinstance(demo.em2exm_ingest, WorkflowTemplate)
    hera = shutil.which("hera", path=str(Path(sys.executable).parent))
    done = subprocess.run([hera, "generate", "yaml", str(REPO / "workflows" / "demo.py"), "--to", str(tmp_path)], capture_output=True, text=True) if hera else None
    if done is None or "cappa" in done.stderr:
        pytest.skip("the hera CLI needs hera[cli] (cappa)")
    assert done.returncode == 0, done.stderr
    kinds = [d["kind"] for d in yaml.safe_load_all((tmp_path / "demo.yaml").read_text())]
    stages = {step.stage for step in build_pipeline(load(str(demo.CONFIG))[0]).steps}
    assert kinds.count("Workflow") == 1 and kinds.count("WorkflowTemplate") == len(stages)


def test_template_names_do_not_depend_on_resources(tmp_path):
    """A config that changes resources still calls the templates the chart installs."""
    default = pipeline_config(tmp_path / "a", tmp_path / "store")
    bigger = pipeline_config(tmp_path / "b", tmp_path / "store", "resources: {ingest: {cpu: 8, memory_gib: 64}}\n")

    def refs(path: Path) -> list[tuple[str, str]]:
        workflow = build(*load(str(path))[:2]).workflow.to_dict()
        tasks = next(t for t in workflow["spec"]["templates"] if t["name"] == "pipeline")["dag"]["tasks"]
        return [(t["templateRef"]["name"], t["templateRef"]["template"]) for t in tasks if "templateRef" in t]

    assert refs(bigger) == refs(default)
