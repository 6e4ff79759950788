"""The pipeline definition and the local runner."""

from __future__ import annotations

from conftest import run_cli
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
