"""em2exm check: a preflight that lists every problem of a config at once (exit 2), on the demo data and a real
S3 server; the local runner runs it before any step."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import zarr
from backends import cli
from conftest import DEMO_DATA, REPO
from em2exm import storage
from em2exm.config import load_pipeline
from s3fs import S3FileSystem


def _snapshot(root: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in [root, *root.rglob("*")]}


def _config(folder: Path, text: str) -> Path:
    path = folder / "pipeline.yaml"
    path.write_text(text)
    return path


def _lines(text: str, level: str, topic: str) -> list[str]:
    return [line for line in text.splitlines() if line.split()[:2] == [level, topic]]


def test_the_demo_config_passes_and_every_input_is_described(demo_config, capsys):
    before = _snapshot(demo_config.parent)
    result = cli(capsys, "check", str(demo_config))
    assert result.code == 0, result.stdout + result.stderr
    assert not _lines(result.stdout, "FAIL", "input") and "validates" in result.stdout
    em, exm = _lines(result.stdout, "ok", "input")[0], _lines(result.stdout, "ok", "input")[2]
    assert "raw.tif: (50, 100, 200) uint8, voxel 10 x 10 x 10 nm" in em and "resampled to (34, 107, 213)" in em
    assert "voxel 235 x 150 x 150 nm / expansion 16 -> common voxel 14.6875 x 9.375 x 9.375 nm: kept" in exm
    assert "labels.tif: (32, 128, 128) uint16" in result.stdout
    assert "does not exist yet" in _lines(result.stdout, "ok", "store")[0] and _lines(result.stdout, "ok", "space")
    assert "run on the CPU here" in result.stdout or "CUDA GPU" in result.stdout
    assert _snapshot(demo_config.parent) == before, "the check wrote or left something"


@pytest.fixture
def fresh_s3() -> Iterator[None]:
    """s3fs keeps one client per endpoint in a process, whatever the credentials in the environment: start and
    end without one, so wrong credentials set here are not used by later tests."""
    S3FileSystem.clear_instance_cache()
    yield
    S3FileSystem.clear_instance_cache()


def test_every_problem_is_listed_in_one_report(tmp_path, s3_server, fresh_s3, monkeypatch, capsys):
    """A missing input, wrong S3 credentials, an unwritable store, a GPU step without CUDA and a block too large for
    its memory: all five in one report, then exit 2 with one error line."""
    zarr.create_array(str(tmp_path / "exm.zarr"), shape=(512, 2048, 2048), chunks=(64, 256, 256), dtype="uint8")
    zarr.create_array(str(tmp_path / "exm_labels.zarr"), shape=(512, 2048, 2048), chunks=(64, 256, 256), dtype="uint32")
    (tmp_path / "a-file").write_text("not a folder")
    config = _config(tmp_path, f"""
run: {{store: {tmp_path / 'a-file' / 'store'}}}
inputs:
  em: {{image: missing.tif, labels: 's3://{s3_server.bucket}/em/labels.zarr', voxel_size: [10, 10, 10]}}
  exm: {{image: exm.zarr, labels: exm_labels.zarr, voxel_size: [235, 150, 150], expansion_factor: 16}}
infer: {{device: cuda}}
resources: {{decode: {{memory_gib: 1}}}}
""")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    for key, value in {**s3_server.env, "AWS_SECRET_ACCESS_KEY": "wrong-secret"}.items():
        monkeypatch.setenv(key, value)
    result = cli(capsys, "check", str(config))
    assert result.code == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "problems found" in errors[0] and " -- fix: " in errors[0], result.stderr
    out = result.stdout
    assert f"input {tmp_path / 'missing.tif'} does not exist" in _lines(out, "FAIL", "input")[0]
    assert "em labels: access to s3://em2exm/em/labels.zarr was denied" in _lines(out, "FAIL", "input")[1]
    assert "lies under the file" in _lines(out, "FAIL", "store")[0]
    gpu = _lines(out, "FAIL", "gpu")[0]
    assert "seg-infer-raw" in gpu and "device: cuda" in gpu and "CUDA_VISIBLE_DEVICES" in gpu
    decode = next(line for line in _lines(out, "FAIL", "memory") if "decode-raw" in line)
    assert "decode.block [128, 512, 512]" in decode and "more than resources 1 GiB" in decode
    assert "(512, 2048, 2048) uint8" in _lines(out, "ok", "input")[0], "the other inputs are still described"
    assert all(" -- fix: " in line for line in out.splitlines() if line.startswith("FAIL"))


def test_a_block_that_fits_passes(tmp_path, monkeypatch, capsys):
    zarr.create_array(str(tmp_path / "exm.zarr"), shape=(512, 2048, 2048), chunks=(64, 256, 256), dtype="uint8")
    config = _config(tmp_path, f"""
run: {{store: {tmp_path / 'store'}}}
inputs:
  em: {{image: {DEMO_DATA / 'gala_fibsem_train' / 'raw.tif'}, voxel_size: [10, 10, 10]}}
  exm: {{image: exm.zarr, voxel_size: [235, 150, 150], expansion_factor: 16}}
experiments: {{names: [raw]}}
resources: {{decode: {{memory_gib: 1}}}}
""")
    too_large = cli(capsys, "check", str(config))
    decode = [line for line in _lines(too_large.stdout, "FAIL", "memory") if "decode-raw: ~" in line]
    assert too_large.code == 2 and "for decode.block [128, 512, 512]" in decode[0] and "resources 1 GiB" in decode[0]
    smaller = cli(capsys, "check", str(config), "--set", "decode.block=[32,256,256]")
    assert not [line for line in _lines(smaller.stdout, "FAIL", "memory") if "decode" in line], smaller.stdout


def test_every_config_error_is_listed_and_the_inputs_still_checked(tmp_path, capsys):
    config = _config(tmp_path, f"""
inputs:
  em: {{image: {DEMO_DATA / 'gala_fibsem_train' / 'raw.tif'}, labels: {DEMO_DATA / 'plantseg_ovule' / 'labels.tif'},
       voxel_size: [10, 10, 10]}}
  exm: {{image: {tmp_path / 'absent.tif'}, voxel_size: [235, 150, 150]}}
decode: {{tres2: 0.2}}
seg: {{batch: 0}}
""")
    result = cli(capsys, "check", str(config))
    assert result.code == 2
    problems = " ".join(_lines(result.stdout, "FAIL", "config"))
    assert len(_lines(result.stdout, "FAIL", "config")) == 2 and "bad value for 'seg.batch'" in problems
    assert "unknown config key 'decode.tres2' -- fix: remove it or use one of: " in problems and "thres2" in problems
    inputs = " ".join(_lines(result.stdout, "FAIL", "input"))
    assert "em labels (32, 128, 128) and image (50, 100, 200) differ in shape" in inputs and "absent.tif does not exist" in inputs


def test_an_s3_store_is_probed_and_left_as_it_was(demo_config, s3_env, capsys):
    store = f"s3://{s3_env.bucket}/check-run"
    storage.write_bytes(f"{store}/users-file.txt", b"mine")
    result = cli(capsys, "check", str(demo_config), "--set", f"run.store={store}")
    assert result.code == 0, result.stdout + result.stderr
    assert f"{store} at {s3_env.endpoint} is writable" in result.stdout and "not knowable" in result.stdout
    assert storage.list_names(store) == ["users-file.txt"]


def test_the_gpu_node_check_needs_cuda_for_every_gpu_step(demo_config, monkeypatch, capsys):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    result = cli(capsys, "check", str(demo_config), "--gpu", "require")
    assert result.code == 2
    assert {line.split()[1] for line in result.stdout.splitlines()} == {"config", "gpu"}, "only the GPU is checked"
    assert "seg-train-raw, seg-infer-raw, ccgan-train-ccgan, transfer-ccgan, ... ask for a GPU (resources gpu: 1)" in result.stdout
    skipped = cli(capsys, "check", str(demo_config), "--gpu", "skip", "--set", "infer.device=cuda")
    assert skipped.code == 0 and " gpu " not in skipped.stdout


def test_params_json_is_the_config_as_backends_pass_it(demo_config, capsys):
    config = load_pipeline(str(demo_config))
    text = json.dumps(config.model_dump(mode="json", exclude_defaults=True))
    result = cli(capsys, "check", "--params", text)
    assert result.code == 0 and "--params validates" in result.stdout, result.stdout + result.stderr


@pytest.mark.parametrize(("args", "expect"), [
    ((), "needs the pipeline config"),
    (("--params", "[1]"), "--params must be a JSON object"),
    (("--params", "{"), "--params is not valid JSON"),
    (("no-such.yaml",), "config file no-such.yaml not found"),
    (("--gpu", "maybe", "x.yaml"), "invalid choice: 'maybe'"),
])
def test_bad_invocations_exit_2_with_one_line(args, expect, capsys):
    result = cli(capsys, "check", *args)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.code == 2 and len(errors) == 1 and expect in errors[0] and " -- fix: " in errors[0], result.stderr


def test_em2exm_run_checks_first_unless_told_not_to(demo_config, tmp_path, capsys, caplog):
    missing = ("--set", f"inputs.em.image={tmp_path / 'missing.tif'}", "--only", "ingest-em")
    before = _snapshot(tmp_path)
    stopped = cli(capsys, "run", str(demo_config), *missing)
    errors = [line for line in stopped.stderr.splitlines() if line.startswith("error:")]
    assert stopped.code == 2 and len(errors) == 1 and "the preflight check: 1 problem found" in errors[0]
    assert "--no-check" in errors[0] and "FAIL  input   em image: input" in caplog.text and "missing.tif does not" in caplog.text
    assert _snapshot(tmp_path) == before, "nothing is written when the check fails"
    unchecked = cli(capsys, "run", str(demo_config), *missing, "--no-check")
    assert unchecked.code == 2 and "step ingest-em failed (exit 2)" in unchecked.stderr


def test_the_readme_documents_check():
    text = (REPO / "README.md").read_text()
    assert "em2exm check" in text and "--no-check" in text and "--gpu require" in text
