"""The Helm chart: generated from the Hera definitions, lint-clean, and rendering valid manifests."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from argo_local import LocalArgo
from backends import INGEST_ONLY, assert_same_outputs, ingest_only_reference_fixture, pipeline_config  # noqa: F401
from conftest import SHARED
from em2exm.backends import ArgoSettings
from em2exm.cli import main as em2exm_main
from em2exm.specs import STAGES

from workflows import chart, schema
from workflows.argo import stage_templates
from workflows.render import WORKFLOW_FILE

helm = pytest.importorskip("helm_python", reason="helm-python-sdk is not installed (pip install helm-python-sdk)")
SCHEMA = SHARED / "schemas" / schema.SCHEMA_NAME
CUSTOM = {
    "image": {"registry": "registry.lab/team", "tag": "2.0", "pullPolicy": "Always"},
    "nodePools": {"cpu": {"nodeSelector": {"pool": "cpu"}, "tolerations": []}, "gpu": {"nodeSelector": {"pool": "gpu"}, "tolerations": [{"key": "gpu-only", "operator": "Exists"}]}},
    "resources": {"ingest": {"cpu": "500m", "memory": "1Gi"}},
    "storage": {"endpoint": "https://s3.lab", "bucket": "em", "configMapName": "store", "secretName": "creds"},
    "fanoutParallelism": 2,
}


def _render(values: dict[str, Any] | None = None, namespace: str = "em2exm") -> list[dict[str, Any]]:
    rendered = helm.Chart.load(str(chart.CHART)).render(values, name="em2exm", namespace=namespace)
    return [doc for path, text in rendered.items() if path.endswith(".yaml") for doc in yaml.safe_load_all(text) if doc]


def test_generated_chart_files_are_up_to_date():
    for relative, text in chart.generated().items():
        assert (chart.CHART / relative).read_text() == text, f"{relative} is out of date: run `make chart`"


def test_chart_check_flags_stale_files(tmp_path):
    copy = tmp_path / "em2exm"
    shutil.copytree(chart.CHART, copy)
    assert chart.main(["--chart", str(copy), "--check"]) == 0
    (copy / chart.VALUES_FILE).write_text("image: {}\n")
    assert chart.main(["--chart", str(copy), "--check"]) == 1
    assert chart.main(["--chart", str(copy)]) == 0 and chart.main(["--chart", str(copy), "--check"]) == 0


def test_helm_lint_strict_passes_and_schema_guards_values():
    report = helm.lint(str(chart.CHART), strict=True)
    assert not report["errors"] and all(m["severity"] < 2 for m in report["messages"]), report
    bad = helm.lint(str(chart.CHART), {"image": {"registry": "x", "tag": "1", "pullPolicy": "Sometimes"}}, strict=True)
    assert bad["errors"]


def test_default_values_render_the_hera_templates():
    settings = ArgoSettings(namespace="lab")
    expected = {t.name: t.to_dict() for t in stage_templates(settings)}
    rendered = {d["metadata"]["name"]: d for d in _render(namespace="lab") if d["kind"] == "WorkflowTemplate"}
    assert rendered == expected


@pytest.mark.parametrize("values", [None, CUSTOM], ids=["defaults", "custom"])
def test_rendered_manifests_validate(values, tmp_path):
    documents = _render(values)
    argo = [d for d in documents if d["apiVersion"].startswith("argoproj.io/")]
    kubernetes = [d for d in documents if d not in argo]
    assert {d["kind"] for d in kubernetes} == {"ServiceAccount", "Role", "RoleBinding", "ConfigMap"}
    for document in argo:
        assert schema.errors(document, SCHEMA) == [], document["metadata"]["name"]
    manifest = tmp_path / "kubernetes.yaml"
    manifest.write_text(yaml.safe_dump_all(kubernetes))
    validator = Path(sys.executable).parent / "kubernetes-validate"
    if not validator.exists():
        pytest.skip("kubernetes-validate is not installed (pip install kubernetes-validate)")
    done = subprocess.run([str(validator), "--strict", str(manifest)], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.count("passed") == len(kubernetes), done.stdout + done.stderr


def test_custom_values_reach_the_templates():
    documents = _render(CUSTOM)
    ingest = next(d for d in documents if d["metadata"]["name"] == "em2exm-ingest")["spec"]["templates"][0]
    assert ingest["container"]["image"] == "registry.lab/team/em2exm-ingest:2.0"
    assert ingest["container"]["resources"]["requests"] == {"cpu": "500m", "memory": "1Gi"}
    assert ingest["nodeSelector"] == {"pool": "cpu"} and "tolerations" not in ingest
    env = {e["name"]: e.get("valueFrom") or e["value"] for e in ingest["container"]["env"]}
    assert env["AWS_SECRET_ACCESS_KEY"]["secretKeyRef"]["name"] == "creds"
    assert env["EM2EXM_RUN_ID"] == "{{workflow.uid}}"  # Argo's expression survives Helm's templating
    gpu = [t for d in documents if d["kind"] == "WorkflowTemplate" for t in d["spec"]["templates"] if "nvidia.com/gpu" in t.get("container", {}).get("resources", {}).get("limits", {})]
    assert gpu and all(t["tolerations"] == [{"key": "gpu-only", "operator": "Exists"}] for t in gpu)
    assert all(t["nodeSelector"] == {"nvidia.com/gpu.present": "true", "pool": "gpu"} for t in gpu), "Helm merges maps"
    loops = [t for d in documents if d["kind"] == "WorkflowTemplate" for t in d["spec"]["templates"]
             if "dag" in t and not t["name"].endswith("-rounds")]  # a rounds DAG runs one fan-out at a time
    assert loops and all(t["parallelism"] == 2 for t in loops)
    configmap = next(d for d in documents if d["kind"] == "ConfigMap")
    assert configmap["metadata"]["name"] == "store" and configmap["data"] == {"endpoint": "https://s3.lab", "bucket": "em"}


def test_rbac_is_least_privilege_and_no_secret_is_shipped():
    documents = _render()
    role = next(d for d in documents if d["kind"] == "Role")
    assert role["rules"] == [{"apiGroups": ["argoproj.io"], "resources": ["workflowtaskresults"], "verbs": ["create", "patch"]}]
    binding = next(d for d in documents if d["kind"] == "RoleBinding")
    account = next(d for d in documents if d["kind"] == "ServiceAccount")
    assert binding["subjects"][0]["name"] == account["metadata"]["name"] == ArgoSettings().service_account
    assert all(d["kind"] != "Secret" for d in documents)


def test_the_chart_serves_a_pipeline_that_is_not_the_demo(tmp_path, ingest_only_reference):
    """The chart ships every stage's template, made from the specs alone; a pipeline of another shape than the demo's
    (ingest only), rendered by `em2exm workflow render`, runs against the chart's templates (the local DAG executor)
    and writes what `em2exm run` writes."""
    templates = [d for d in _render() if d["kind"] == "WorkflowTemplate"]
    assert {d["metadata"]["labels"]["em2exm/stage"] for d in templates} == set(STAGES)
    folder = tmp_path / "argo"
    config = pipeline_config(folder, folder / "store")
    assert em2exm_main(["workflow", "render", str(config), "-o", str(folder / "out"), *INGEST_ONLY]) == 0
    workflow = yaml.safe_load((folder / "out" / WORKFLOW_FILE).read_text())
    argo = LocalArgo([*templates, workflow])
    argo.run()
    assert [c[2] for c in argo.ran] == ["em2exm", "stages.ingest", "stages.ingest", "stages.visualize"]
    assert_same_outputs(ingest_only_reference, folder / "store")
