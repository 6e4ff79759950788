"""The pipeline definition and the local runner."""

from __future__ import annotations

from conftest import REPO, run_cli
from em2exm import commit, ome
from em2exm.config import load_pipeline
from em2exm.pipeline import build_pipeline, common_voxel_size


def test_dependencies_follow_data_flow(demo_config):
    pipeline = build_pipeline(load_pipeline(str(demo_config)))
    names = [s.name for s in pipeline.steps]
    assert names[:2] == ["ingest-em", "ingest-exm"]
    for step in pipeline.steps:
        for need in pipeline.needs(step):
            assert names.index(need) < names.index(step.name), "steps must come after what they read"
            assert any(i.startswith(o) for i in step.inputs for o in pipeline.step(need).outputs)


def test_local_run_then_resume(demo_config, tmp_path):
    config = load_pipeline(str(demo_config))
    result = run_cli("run", str(demo_config), "--only", "ingest-em", "--only", "ingest-exm")
    assert result.code == 0, result.stderr
    em = ome.open_image(str(tmp_path / "store" / "em.zarr"))
    exm = ome.open_image(str(tmp_path / "store" / "exm.zarr"))
    assert em.voxel_size == exm.voxel_size == common_voxel_size(config)
    assert commit.is_complete(em.url) and commit.is_complete(exm.url)
    again = run_cli("run", str(demo_config), "--only", "ingest-em", "--only", "ingest-exm")
    assert again.code == 0 and again.stderr.count("skip ") == 2


def test_run_reports_bad_config(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("inputs: {}\n")
    result = run_cli("run", str(path))
    assert result.code == 2 and "missing config key 'inputs.em'" in result.stderr


def test_umbrella_cli_lists_stages():
    result = run_cli("--help")
    assert result.code == 0 and "ingest" in result.stdout and "run" in result.stdout
    assert run_cli("no-such-stage").code == 2


def test_experiments_follow_the_config(demo_config):
    config = load_pipeline(str(demo_config))
    names = [s.name for s in build_pipeline(config).steps]
    for experiment in ("raw", "ccgan", "segmatch", "oracle"):
        assert f"evaluate-{experiment}" in names and f"seg-infer-{experiment}" in names
    assert "ccgan-train-raw" not in names and "ccgan-train-oracle" not in names
    only = build_pipeline(load_pipeline(str(demo_config), ["experiments.names=[segmatch]"]))
    train = only.step("ccgan-train-segmatch")
    assert '"seg_head":true' in train.args[train.args.index("--params") + 1]
    assert only.needs(only.step("dataset-segmatch")) == ["transfer-segmatch"]


def test_production_preset_runs_on_gpus_and_fans_out():
    config = load_pipeline(str(REPO / "configs" / "production.yaml"))
    pipeline = build_pipeline(config)
    assert not any(s.stage == "evaluate" for s in pipeline.steps), "no ExM labels: nothing to evaluate"
    for step in pipeline.steps:
        assert (step.resources.gpu > 0) == (step.stage in ("ccgan-train", "ccgan-transfer", "seg-train", "seg-infer"))
        assert (step.fanout == 4) == (step.stage in ("ccgan-transfer", "seg-infer", "decode"))
    assert pipeline.step("seg-train-ccgan").resources.memory_gib == 32


def test_oracle_without_exm_labels_is_a_config_error(demo_config):
    result = run_cli("run", str(demo_config), "--set", "inputs.exm.labels=", "--list")
    assert result.code == 2 and "oracle" in result.stderr and "needs ExM labels" in result.stderr
