"""The SLURM backend: the job scripts, and the chain run on a real single-node SLURM cluster."""

from __future__ import annotations

import glob
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import slurm_cluster
import tifffile
from backends import (  # noqa: F401 - session fixtures
    INGEST_ONLY,
    ONE_EXPERIMENT,
    assert_same_outputs,
    cli,
    ingest_only_reference_fixture,
    one_experiment_reference_fixture,
    pipeline_config,
)
from em2exm.pipeline import build_pipeline

from workflows.settings import load

SLURM_SETTINGS = """
slurm:
  partition: batch
  gpu_partition: gpu
  account: lab
  images: /sif
  tag: "3.1"
  binds: [/scratch]
  array_tasks: 4
  array_parallelism: 2
  extra: ["--qos=normal"]
"""


def _scripts(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in folder.glob("*.sbatch")}


def test_container_scripts(tmp_path, capsys):
    config = pipeline_config(tmp_path, tmp_path / "store", SLURM_SETTINGS)
    result = cli(capsys, "slurm", str(config), "-o", str(tmp_path / "jobs"))
    assert result.code == 0, result.stderr
    scripts = _scripts(tmp_path / "jobs")
    pipeline = build_pipeline(load(str(config))[0])
    for index, step in enumerate(pipeline.steps, start=1):
        name = f"{index:02d}-{step.name}.sbatch"
        text = scripts[name]
        assert f"#SBATCH --job-name=demo-{step.name}\n" in text and "#SBATCH --qos=normal" in text
        assert "#SBATCH --account=lab" in text and f"#SBATCH --cpus-per-task={int(step.resources.cpu)}" in text
        assert f"singularity exec {'--nv ' if step.resources.gpu else ''}--bind=" in text
        assert f"/sif/em2exm-{step.stage}_3.1.sif python -m {step.module} " in text
        assert "--bind=/scratch" in text and f"--bind={tmp_path / 'store'}" in text
        assert ("#SBATCH --gres=gpu:1" in text) == bool(step.resources.gpu)
        assert f"#SBATCH --partition={'gpu' if step.resources.gpu else 'batch'}" in text
        if step.fanout:
            plan, blocks = scripts[f"{index:02d}-{step.name}-plan.sbatch"], scripts[f"{index:02d}-{step.name}-blocks.sbatch"]
            assert f"--plan-blocks {step.fanout} > " in plan and "--finalise" in text
            assert "#SBATCH --array=0-3%2" in blocks and '--blocks "${ranges[i]}"' in blocks
            for settle in (p for p in step.spec.passes if p.settles):  # decode: resubmit the flood until it settles
                rounds = f"{index:02d}-{step.name}-{settle.settles}.sbatch"
                text = scripts[f"{index:02d}-{step.name}-{settle.name}.sbatch"]
                assert f"--{settle.name}" in text and f"sbatch --wait --quiet {tmp_path / 'jobs' / rounds}" in text
                assert "#SBATCH --cpus-per-task=1\n" in text  # it mostly waits for the rounds it submits
                assert "#SBATCH --array=0-3%2" in scripts[rounds] and '--flood "${ranges[i]}"' in scripts[rounds]
    first_gpu_stage = next(s.stage for s in pipeline.steps if s.resources.gpu)
    for name, image, partition, mode in (("check", "ingest", "batch", "skip"), ("check-gpu", first_gpu_stage, "gpu", "require")):
        text = scripts[f"00-{name}.sbatch"]
        assert f"#SBATCH --partition={partition}\n" in text and ("#SBATCH --gres=gpu:1" in text) == (name == "check-gpu")
        assert f"/sif/em2exm-{image}_3.1.sif python -m em2exm check --params " in text and text.rstrip().endswith(f"--gpu {mode}")
        assert ("exec --nv " in text) == (name == "check-gpu")
    for path in (tmp_path / "jobs").glob("*.s*"):
        assert subprocess.run(["bash", "-n", str(path)], capture_output=True).returncode == 0, path.name
    submit = (tmp_path / "jobs" / "submit.sh").read_text()
    assert submit.count("sbatch --parsable --kill-on-invalid-dep=yes") == len(scripts)


def test_dependencies_follow_data_flow(tmp_path, capsys):
    config = pipeline_config(tmp_path, tmp_path / "store")
    assert cli(capsys, "slurm", str(config), "-o", str(tmp_path / "jobs"), "--no-container").code == 0
    submit = (tmp_path / "jobs" / "submit.sh").read_text()
    variables = dict(re.findall(r'echo "(\S+) \$\{(job\d+)\}"', submit))
    dependencies = {
        line.split("=")[0]: re.findall(r"\$\{(job\d+)\}", line.split("afterok:")[1].split(" ")[0]) if "afterok:" in line else []
        for line in submit.splitlines()
        if line.startswith("job")
    }
    pipeline = build_pipeline(load(str(config))[0])
    assert dependencies[variables["check"]] == dependencies[variables["check-gpu"]] == []
    for step in pipeline.steps:
        first = f"{step.name}-plan" if step.fanout else step.name
        needs = pipeline.needs(step) or ["check", "check-gpu"]
        assert sorted(dependencies[variables[first]]) == sorted(variables[n] for n in needs)
    assert "singularity" not in "".join(_scripts(tmp_path / "jobs").values())


@pytest.fixture(scope="module")
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[slurm_cluster.Cluster]:
    reason = slurm_cluster.missing()
    if reason:
        pytest.skip(reason)
    with slurm_cluster.cluster(tmp_path_factory.mktemp("slurm")) as running:
        yield running


def _chain(slurm: slurm_cluster.Cluster, folder: Path, sets: tuple[str, ...], timeout: float) -> dict[str, list[str]]:
    """Write the chain with --no-container, submit it with submit.sh, wait; return job name -> states."""
    config = pipeline_config(folder, folder / "store")
    written = subprocess.run(
        [sys.executable, "-m", "em2exm", "slurm", str(config), "-o", str(folder / "jobs"), "--no-container", *sets],
        capture_output=True, text=True, env=slurm.env,
    )
    assert written.returncode == 0, written.stderr
    submitted = subprocess.run(["bash", str(folder / "jobs" / "submit.sh")], capture_output=True, text=True, env=slurm.env)
    assert submitted.returncode == 0, submitted.stderr
    ids = dict(line.split() for line in submitted.stdout.splitlines())
    states = slurm.wait(list(ids.values()), timeout)
    return {name: states[job] for name, job in ids.items()}


def test_chain_runs_the_pipeline_like_em2exm_run(slurm, tmp_path, monkeypatch, capsys, ingest_only_reference):
    monkeypatch.setenv("SLURM_CONF", slurm.env["SLURM_CONF"])
    config = pipeline_config(tmp_path / "slurm", tmp_path / "slurm" / "store")
    result = cli(capsys, "slurm", str(config), "-o", str(tmp_path / "jobs"), "--no-container", "--submit", *INGEST_ONLY)
    assert result.code == 0, result.stderr
    ids = dict(line.split() for line in result.stdout.splitlines() if not line.startswith("/"))
    assert list(ids) == ["check", *(s.name for s in build_pipeline(load(str(config), INGEST_ONLY[1::2])[0]).steps)]
    states = slurm.wait(list(ids.values()), timeout=300)
    assert all(s == ["COMPLETED"] for s in states.values()), states
    assert_same_outputs(ingest_only_reference, tmp_path / "slurm" / "store")


def test_failing_step_cancels_its_dependents(slurm, tmp_path):
    """Labels with fractional ids pass the preflight (they open, with the image's shape) but ingest refuses them."""
    labels = tmp_path / "fractional.tif"
    tifffile.imwrite(labels, np.full((50, 100, 200), 1.5, np.float32))
    states = _chain(slurm, tmp_path, (*INGEST_ONLY, "--set", f"inputs.em.labels={labels}"), timeout=300)
    assert states["check"] == ["COMPLETED"]
    assert states["ingest-em"] == ["FAILED"] and states["ingest-exm"] == ["COMPLETED"]
    assert states["visualize"] == ["CANCELLED"]
    log = next((tmp_path / "jobs" / "logs").glob("demo-ingest-em-*.out")).read_text()
    assert "are not non-negative integers" in log


def test_the_checks_stop_the_chain_before_any_step(slurm, tmp_path):
    """A missing input fails the first job; a GPU step on a node whose GPU CUDA cannot see (the test cluster's GPU
    is /dev/null) fails the GPU check job on the GPU partition; every step is cancelled."""
    if glob.glob("/dev/nvidia[0-9]*"):
        pytest.skip("this machine has a real GPU: the test cluster's GPU would pass the GPU check")
    missing = ("--set", f"inputs.em.image={tmp_path / 'missing.tif'}", "--set", "experiments.names=[raw]")
    states = _chain(slurm, tmp_path, missing, timeout=300)
    assert states["check"] == ["FAILED"] and states["check-gpu"] == ["FAILED"]
    assert {name: s for name, s in states.items() if not name.startswith("check")} == {
        name: ["CANCELLED"] for name in states if not name.startswith("check")}
    logs = tmp_path / "jobs" / "logs"
    check, gpu = (next(logs.glob(f"demo-{name}-[0-9]*.out")).read_text() for name in ("check", "check-gpu"))
    assert "missing.tif does not exist" in check and "FAIL  gpu" not in check
    assert "seg-train-raw, seg-infer-raw ask for a GPU (resources gpu: 1)" in gpu and "no NVIDIA GPU device" in gpu
    assert "FAIL  input" not in gpu


@pytest.mark.slow
def test_array_jobs_run_blockwise_steps(slurm, tmp_path, one_experiment_reference):
    on_cpu = ("--set", "resources.seg-train.gpu=0", "--set", "resources.seg-infer.gpu=0")  # the cluster's GPU is no GPU
    states = _chain(slurm, tmp_path / "slurm", (*ONE_EXPERIMENT, *on_cpu, "--set", "slurm.array_tasks=3"), timeout=1500)
    assert all(set(s) == {"COMPLETED"} for s in states.values()), states
    assert len(states["seg-infer-raw-blocks"]) == 3
    assert_same_outputs(one_experiment_reference, tmp_path / "slurm" / "store")
