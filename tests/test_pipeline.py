"""The pipeline definition and the local runner."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import tifffile
from conftest import REPO, run_cli
from em2exm import commit, ome, runner
from em2exm.config import load_pipeline
from em2exm.pipeline import build_pipeline, common_voxel_size
from em2exm.specs import STAGES
from em2exm.stagekit import run_stage


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
    assert train.params.seg_head is True
    assert build_pipeline(config).step("ccgan-train-ccgan").params.seg_head is False
    assert only.needs(only.step("dataset-segmatch")) == ["transfer-segmatch"]


def test_ccgan_source_chooses_what_the_cyclegans_translate(demo_config):
    """ccgan_source: intensity puts match-intensity before every CycleGAN and translates its output; em does not."""
    def arg(step, flag):
        return step.args[step.args.index(flag) + 1]

    matched = build_pipeline(load_pipeline(str(demo_config), ["experiments.ccgan_source=intensity"]))
    plain = build_pipeline(load_pipeline(str(demo_config), ["experiments.ccgan_source=em"]))
    for experiment in ("ccgan", "segmatch"):
        train, transfer = matched.step(f"ccgan-train-{experiment}"), matched.step(f"transfer-{experiment}")
        assert arg(train, "--a").endswith("transferred/intensity.zarr")
        assert sorted(matched.needs(train)) == ["ingest-exm", "match-intensity"]
        assert arg(train, "--a-labels") == arg(train, "--a") + "/labels/groundtruth"
        assert arg(transfer, "--image") == arg(train, "--a") and "match-intensity" in matched.needs(transfer)
        assert arg(plain.step(f"ccgan-train-{experiment}"), "--a").endswith("/em.zarr")
        assert arg(plain.step(f"transfer-{experiment}"), "--image").endswith("/em.zarr")
    assert [s.name for s in matched.steps].count("match-intensity") == 1


def test_drawn_matches_the_em_labels_and_can_feed_the_cyclegans(demo_config):
    """(h) drawn: match-intensity with source labels; ccgan_source: drawn makes it what the CycleGANs translate."""
    def arg(step, flag):
        return step.args[step.args.index(flag) + 1]

    sets = ["experiments.names=[intensity,drawn,ccgan]", "experiments.ccgan_source=drawn"]
    pipeline = build_pipeline(load_pipeline(str(demo_config), sets))
    drawn, intensity = pipeline.step("match-drawn"), pipeline.step("match-intensity")
    assert json.loads(arg(drawn, "--params"))["source"] == "labels"
    assert "source" not in json.loads(arg(intensity, "--params")), "image is the default"
    assert arg(drawn, "--output").endswith("transferred/drawn.zarr")
    assert arg(pipeline.step("ccgan-train-ccgan"), "--a") == arg(drawn, "--output")
    assert arg(pipeline.step("dataset-drawn"), "--image") == arg(drawn, "--output")


def test_rendered_renders_the_em_labels_like_the_simulated_exm():
    """(g) rendered: the EM labels at their own voxel size through simulate-exm with the ExM's options, another seed."""
    def arg(step, flag):
        return step.args[step.args.index(flag) + 1]

    path = str(REPO / "configs" / "benchmark-sim.yaml")
    pipeline = build_pipeline(load_pipeline(path, ["experiments.names=[rendered]"]))
    exm, em = pipeline.step("simulate-exm"), pipeline.step("simulate-em")
    assert arg(em, "--labels").endswith("/em_source.zarr/labels/groundtruth")
    assert pipeline.needs(em) == ["ingest-em-source"] and pipeline.step("ingest-em-source").params.target_voxel_size is None
    exm_options, em_options = json.loads(arg(exm, "--params")), json.loads(arg(em, "--params"))
    assert em_options.pop("seed") == exm_options.pop("seed", 0) + 1 and em_options == exm_options
    dataset = pipeline.step("dataset-rendered")
    assert arg(dataset, "--image") == arg(em, "--output") and pipeline.needs(dataset) == ["simulate-em"]


def test_rendered_needs_a_simulated_exm_volume(demo_config):
    result = run_cli("run", str(demo_config), "--set", "experiments.names=[rendered]", "--list")
    assert result.code == 2 and "inputs.exm.simulate" in result.stderr


def test_production_preset_runs_on_gpus_and_fans_out():
    config = load_pipeline(str(REPO / "configs" / "production.yaml"))
    pipeline = build_pipeline(config)
    assert not any(s.stage == "evaluate" for s in pipeline.steps), "no ExM labels: nothing to evaluate"
    for step in pipeline.steps:
        assert (step.resources.gpu > 0) == (step.stage in ("ccgan-train", "ccgan-transfer", "seg-train", "seg-infer"))
        assert (step.fanout == 4) == STAGES[step.stage].blockwise
    assert pipeline.step("seg-train-ccgan").resources.memory_gib == 32


def test_oracle_without_exm_labels_is_a_config_error(demo_config):
    result = run_cli("run", str(demo_config), "--set", "inputs.exm.labels=", "--list")
    assert result.code == 2 and "oracle" in result.stderr and "needs ExM labels" in result.stderr


def test_list_prints_the_commands_the_runner_runs_quoted_for_a_shell(demo_config, capsys):
    pipeline = build_pipeline(load_pipeline(str(demo_config), ["inputs.em.channel=1"]))
    assert run_stage(runner.main, [str(demo_config), "--set", "inputs.em.channel=1", "--list"]) == 0
    commands = [shlex.split(line) for line in capsys.readouterr().out.splitlines() if line.startswith("  ")]
    assert commands == [runner.local_command(step) for step in pipeline.steps]
    assert commands[0][:2] == [sys.executable, runner.SAFE_PATH] and '"channel":1' in commands[0][commands[0].index("--params") + 1]


def test_a_failed_step_prints_one_error_line_and_steps_ignore_the_working_directory(tmp_path):
    """Packages named like ours in the working directory are not imported; the runner adds a plain note."""
    for package in ("stages", "em2exm"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("raise SystemExit('imported from the working directory')\n")
    tifffile.imwrite(tmp_path / "flat.tif", np.zeros((8, 8), np.uint8))
    volume = "{image: flat.tif, voxel_size: [1, 1, 1]}"
    (tmp_path / "p.yaml").write_text(f"inputs: {{em: {volume}, exm: {volume}}}\nexperiments: {{names: [raw]}}\n")
    done = subprocess.run([str(Path(sys.executable).parent / "em2exm"), "run", "p.yaml", "--only", "ingest-em"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 2 and len(errors) == 1 and "3D" in errors[0], done.stderr
    assert "em2exm run: step ingest-em failed (exit 2); its error is above" in done.stderr
    assert "working directory" not in done.stderr and "Traceback" not in done.stderr


def test_every_shipped_config_builds_a_pipeline():
    """The configs `make demo` / `make benchmark` run validate and build (their data paths exist)."""
    for path in sorted((REPO / "configs").glob("*.yaml")):
        config = load_pipeline(str(path))
        pipeline = build_pipeline(config)
        assert pipeline.steps[-1].stage == "visualize", path.name
        for source in (config.inputs.em, config.inputs.exm):
            for local in (source.image, source.labels):
                assert local is None or "://" in local or Path(local).exists(), f"{path.name}: {local}"


def test_rendering_and_checking_a_pipeline_load_neither_torch_nor_numba(tmp_path):
    """The config, the specs and the backends are pydantic and stdlib: `em2exm workflow render`, `em2exm slurm` and
    `em2exm check` run on a machine (or in a CI job) without the training stack."""
    code = (
        "import sys\nfrom em2exm.cli import main\n"
        f"assert main(['workflow', 'render', {str(REPO / 'configs' / 'demo.yaml')!r}, '-o', {str(tmp_path / 'argo')!r}]) == 0\n"
        f"assert main(['slurm', {str(REPO / 'configs' / 'demo.yaml')!r}, '-o', {str(tmp_path / 'slurm')!r}]) == 0\n"
        f"main(['check', {str(REPO / 'configs' / 'demo.yaml')!r}, '--set', 'run.store={tmp_path / 'store'}'])\n"
        "print(sorted({'torch', 'numba'} & set(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
