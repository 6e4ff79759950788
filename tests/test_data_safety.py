"""Data safety: em2exm never touches what it did not write, one writer per output (leases), changed plans are
refused, and decode's finalise can be killed at any instant and resumed to the same bytes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO
from em2exm import commit, lease, ome, outputs, storage
from em2exm.errors import UserError
from em2exm.stagekit import run_stage
from test_decode_stage import ball_maps, write_maps

from stages import decode as decode_stage
from stages import ingest as ingest_stage

SHAPE = (32, 64, 256)
PLAN = ["--set", "block=[16,64,128]", "--set", "thres_small=8", "--set", "seed_thres=4"]


def _decode(*args: str) -> int:
    return run_stage(decode_stage.main, list(args))


def _predictions(root: Path | str, name: str = "p.zarr") -> str:
    """Maps written as seg-infer would: committed, so decode sees a stable input identity."""
    url = write_maps(storage.join(str(root), name), ball_maps(3, SHAPE), ["foreground", "contour"])
    commit.mark_complete(url, {"stage": "seg-infer"})
    return url


def _chunk_bytes(labels_url: str) -> dict[str, bytes]:
    """Every stored object of a label image's level 0 (chunks and metadata), by relative path."""
    fs, root = storage.filesystem(storage.join(labels_url, "0"))
    return {path.removeprefix(root).lstrip("/"): bytes(fs.cat_file(path)) for path in sorted(fs.find(root))}


def _stage_subprocess(stage: str, *args: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-P", "-m", f"stages.{stage}", *args], cwd=REPO,
                            env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


# --- conditional create and leases -------------------------------------------------------------------------

def _exclusive_twice(url: str) -> None:
    assert storage.create_exclusive(url, b"first")
    assert not storage.create_exclusive(url, b"second")
    assert storage.read_bytes(url) == b"first"


def test_create_exclusive_local_and_memory(tmp_path: Path) -> None:
    _exclusive_twice(str(tmp_path / "a" / "lease.json"))
    _exclusive_twice(f"memory://em2exm-test-{time.time_ns()}/lease.json")


def test_create_exclusive_on_real_s3(s3_env) -> None:
    _exclusive_twice(f"s3://{s3_env.bucket}/exclusive-{time.time_ns()}/lease.json")


def _foreign_lease(url: str, age_s: float, host: str = "another-host", pid: int = 1) -> None:
    record = {"run_id": "other-run", "host": host, "pid": pid, "pidns": lease._pid_namespace(), "stage": "decode",
              "heartbeat": time.time() - age_s}
    storage.write_atomic(storage.join(url, lease.LEASE), json.dumps(record).encode())


def _lease_rules(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(lease.RUN_ID_ENV, "run-a")
    first = lease.Lease(url, "decode", joinable=True)
    first.acquire()
    monkeypatch.setenv(lease.RUN_ID_ENV, "run-b")
    with pytest.raises(UserError, match="being written by run run-a"):
        lease.Lease(url, "decode", joinable=True).acquire()
    monkeypatch.setenv(lease.RUN_ID_ENV, "run-a")
    joined = lease.Lease(url, "decode", joinable=True)
    joined.acquire()  # another task of the same fan-out
    joined.stop()
    first.release()
    assert not storage.exists(storage.join(url, lease.LEASE))


def test_lease_one_writer_per_run_local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _lease_rules(str(tmp_path / "out"), monkeypatch)


def test_lease_one_writer_per_run_on_real_s3(s3_env, monkeypatch: pytest.MonkeyPatch) -> None:
    _lease_rules(f"s3://{s3_env.bucket}/lease-{time.time_ns()}", monkeypatch)


def test_stale_lease_is_taken_over_and_its_old_holder_cannot_commit(tmp_path: Path, monkeypatch) -> None:
    url = str(tmp_path / "out")
    monkeypatch.setenv(lease.TIMEOUT_ENV, "30")
    _foreign_lease(url, age_s=5)
    with pytest.raises(UserError, match="other-run"):
        lease.Lease(url, "decode", joinable=False).acquire()
    _foreign_lease(url, age_s=31)
    taker = lease.Lease(url, "decode", joinable=False)
    taker.acquire()
    taker.check()
    _foreign_lease(url, age_s=0)  # as if the old holder had written again: the taker must notice
    with pytest.raises(UserError, match="now held by run other-run"):
        taker.check()
    taker.release()
    assert storage.exists(storage.join(url, lease.LEASE))  # not ours any more: left alone


def test_lease_of_a_dead_process_on_this_host_is_taken_over_at_once(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    url = str(tmp_path / "out")
    _foreign_lease(url, age_s=0, host=socket.gethostname(), pid=int(dead.stdout))
    taker = lease.Lease(url, "decode", joinable=False)
    taker.acquire()
    taker.release()


@pytest.mark.parametrize("text", ['{"run_id": "x", "host": "h", "pid": "abc", "stage": "s", "heartbeat": 1}',
                                  '{"run_id": "x", "host": "h", "pid": 1, "stage": "s", "heartbeat": null}',
                                  "garbage", "[]", ""])
def test_unreadable_lease_is_replaced_not_a_crash(tmp_path: Path, text: str) -> None:
    url = str(tmp_path / "out")
    os.makedirs(url)
    Path(url, lease.LEASE).write_text(text)
    taker = lease.Lease(url, "decode", joinable=False)
    taker.acquire()
    assert taker.holds()
    taker.release()


@pytest.mark.parametrize("value", ["1e-9", "nan", "inf", "0", "-5", "abc"])
def test_lease_timeout_must_be_a_sane_number(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(lease.TIMEOUT_ENV, value)
    with pytest.raises(UserError, match=lease.TIMEOUT_ENV):
        lease.timeout_s()


def test_a_writer_that_lost_its_lease_does_not_clean_up(tmp_path: Path) -> None:
    url = str(tmp_path / "out")
    with pytest.raises(UserError, match="now held by"), outputs.claim(
            url, stage="t", options={}, inputs={}, products=("x",), redo="never") as output:
        storage.write_bytes(storage.join(url, "x"), b"mine")
        _foreign_lease(url, age_s=0)  # a second run took the lease over while this one was paused
        storage.write_bytes(storage.join(url, "x"), b"the taker's finished output")
        output.check()
    assert storage.read_bytes(storage.join(url, "x")) == b"the taker's finished output"


# --- ownership and inputs ------------------------------------------------------------------------------------

@pytest.mark.parametrize("relation", ["equal", "inside", "contains"])
def test_output_overlapping_an_input_is_refused(tmp_path: Path, relation: str) -> None:
    source = str(tmp_path / "data" / "in.zarr")
    output = {"equal": source, "inside": f"{source}/sub", "contains": str(tmp_path / "data")}[relation]
    with pytest.raises(UserError, match="write the output to a separate location"):
        outputs.check_separate(output, {"image": source})


@pytest.fixture
def tiff_input(tmp_path: Path) -> str:
    import tifffile

    path = tmp_path / "raw" / "em.tif"
    path.parent.mkdir()
    tifffile.imwrite(path, np.random.default_rng(0).integers(0, 255, (8, 16, 16), dtype=np.uint8))
    tifffile.imwrite(path.parent / "labels.tif", (np.indices((8, 16, 16))[2] // 4 + 1).astype(np.uint16))
    return str(path)


def _ingest(image: str, output: str, *extra: str) -> int:
    return run_stage(ingest_stage.main, ["--image", image, "--voxel-size", "30", "8", "8", "--output", output, *extra])


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_ingest_never_touches_a_users_folder(tmp_path: Path, tiff_input: str, overwrite: list[str], capsys) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "thesis.txt").write_text("years of work")
    assert _ingest(tiff_input, str(folder), *overwrite) == 2
    assert "did not write" in capsys.readouterr().err
    assert sorted(os.listdir(folder)) == ["thesis.txt"] and (folder / "thesis.txt").read_text() == "years of work"


@pytest.mark.parametrize("output", ["input_folder", "input_file", "a_file"])
def test_ingest_output_on_input_or_file_exits_2(tmp_path: Path, tiff_input: str, output: str, capsys) -> None:
    target = {"input_folder": str(Path(tiff_input).parent), "input_file": tiff_input, "a_file": str(tmp_path / "f.txt")}[output]
    Path(tmp_path / "f.txt").write_text("keep")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert _ingest(tiff_input, target, "--overwrite") == 2
    assert capsys.readouterr().err.count("error:") == 1
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_overwrite_removes_only_what_em2exm_wrote(tmp_path: Path, tiff_input: str) -> None:
    output = tmp_path / "em.zarr"
    assert _ingest(tiff_input, str(output)) == 0
    (output / "notes.md").write_text("my notes")
    first = commit.read_marker(str(output))["commit_id"]
    assert _ingest(tiff_input, str(output), "--overwrite") == 0
    assert (output / "notes.md").read_text() == "my notes"
    assert commit.read_marker(str(output))["commit_id"] != first
    assert ome.open_image(str(output)).shape == (8, 16, 16)


def test_users_objects_on_real_s3_survive(s3_env, tiff_input: str) -> None:
    prefix = f"s3://{s3_env.bucket}/users-{time.time_ns()}"
    storage.write_bytes(f"{prefix}/data.csv", b"a,b\n1,2\n")
    for extra in ([], ["--overwrite"]):
        assert _ingest(tiff_input, prefix, *extra) == 2
    assert storage.list_names(prefix) == ["data.csv"] and storage.read_bytes(f"{prefix}/data.csv") == b"a,b\n1,2\n"


def test_failed_stage_leaves_a_new_location_as_it_was(tmp_path: Path) -> None:
    url = str(tmp_path / "out")

    with pytest.raises(RuntimeError), outputs.claim(url, stage="t", options={}, inputs={}, products=("x",),
                                                     redo="never") as output:
        output.start()
        storage.write_bytes(storage.join(url, "x"), b"half")
        raise RuntimeError("killed by a bug")
    assert not os.path.exists(url)


# --- plans ------------------------------------------------------------------------------------------------

def test_changed_plan_is_refused_in_every_phase(tmp_path: Path, capsys) -> None:
    url = _predictions(tmp_path)
    assert _decode("--predictions", url, *PLAN, "--plan-blocks", "2") == 0
    assert _decode("--predictions", url, *PLAN, "--blocks", "0:2") == 0
    capsys.readouterr()
    other = [*PLAN, "--set", "block=[16,64,64]"]
    assert _decode("--predictions", url, *other, "--blocks", "0:2") == 2
    err = capsys.readouterr().err
    assert "planned differently" in err and "options.block" in err and "--overwrite" in err
    assert _decode("--predictions", url, *PLAN, "--set", "thres_small=9", "--finalise") == 2
    assert _decode("--predictions", url, *other) == 2
    assert _decode("--predictions", url, *other, "--blocks", "0:1", "--overwrite") == 2  # overwrite is the plan's
    assert _decode("--predictions", url, *PLAN, "--blocks", "2:4") == 0
    assert _decode("--predictions", url, *PLAN, "--set", "thres_small=9", "--merge") == 2
    assert _decode("--predictions", url, *PLAN, "--merge") == 0
    assert _decode("--predictions", url, *other, "--flood", "0:2") == 2
    assert _decode("--predictions", url, *PLAN, "--flood", "0:4") == 0
    assert _decode("--predictions", url, *other, "--settle") == 2
    _settle(url)
    assert _decode("--predictions", url, *other, "--number") == 2
    assert _decode("--predictions", url, *PLAN, "--number") == 0
    assert _decode("--predictions", url, *other, "--apply", "0:2") == 2
    assert _decode("--predictions", url, *PLAN, "--apply", "0:4") == 0
    assert _decode("--predictions", url, *PLAN, "--finalise") == 0
    assert commit.is_complete(f"{url}/labels/instances")


def test_rewritten_input_is_refused_for_a_complete_output(tmp_path: Path, capsys) -> None:
    url = _predictions(tmp_path)
    assert _decode("--predictions", url, *PLAN) == 0
    commit.mark_complete(url, {"stage": "seg-infer"})  # the predictions were made again
    capsys.readouterr()
    assert _decode("--predictions", url, *PLAN) == 2
    assert "input.predictions was rewritten" in capsys.readouterr().err


# --- killed passes -------------------------------------------------------------------------------------------

def _planned_and_processed(root: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(lease.RUN_ID_ENV, f"fanout-{root.rsplit('/', 1)[-1]}")
    url = _predictions(root)
    assert _decode("--predictions", url, *PLAN, "--plan-blocks", "1") == 0
    assert _decode("--predictions", url, *PLAN, "--blocks", "0:4") == 0
    return url


PASSES = (["--merge"], ["--flood", "0:4"], ["--settle"], ["--number"], ["--apply", "0:4"])


def _passes(url: str, passes: tuple[list[str], ...] = PASSES, finalise: bool = True) -> None:
    """Run ``passes`` and the finalise (a settle until the flood has settled)."""
    for phase in (*passes, *([["--finalise"]] if finalise else [])):
        if phase == ["--settle"]:
            _settle(url)
        else:
            assert _decode("--predictions", url, *PLAN, *phase) == 0


def _settle(url: str) -> None:
    """Settle the flood's round; while it is not settled, run another round and settle that."""
    assert _decode("--predictions", url, *PLAN, "--settle") == 0
    while commit.read_pass(f"{url}/labels/instances", "settle") is None:
        assert _decode("--predictions", url, *PLAN, "--flood", "0:4") == 0
        assert _decode("--predictions", url, *PLAN, "--settle") == 0


KILL_POINTS = {  # pass -> where to kill it: after a part or a chunk is written, after a block is committed
    "--merge": ["decode.merge.saved:1:kill", "decode.merge.saved:3:kill", "decode.instances.saved:1:kill"],
    "--flood": ["decode.flood.0.saved:1:kill", "blockwise.block-flood:2:kill"],
    "--number": ["decode.table.saved:1:kill", "decode.table.saved:4:kill"],
    "--apply": ["decode.apply.chunk:1:kill", "decode.apply.chunk:4:kill", "decode.apply.chunk:8:kill",
                "blockwise.block-apply:1:kill", "blockwise.block-apply:3:kill"],
}


def test_a_pass_killed_anywhere_resumes_to_identical_chunks(tmp_path: Path, monkeypatch, capsys) -> None:
    _kill_and_resume(str(tmp_path), [(p, f) for p, faults in KILL_POINTS.items() for f in faults], monkeypatch, capsys)


def test_passes_killed_on_real_s3_resume_to_identical_objects(s3_env, monkeypatch, capsys) -> None:
    points = [("--merge", "decode.merge.saved:3:kill"), ("--flood", "decode.flood.0.saved:1:kill"),
              ("--apply", "decode.apply.chunk:3:kill"), ("--apply", "blockwise.block-apply:2:kill")]
    _kill_and_resume(f"s3://{s3_env.bucket}/passes-{time.time_ns()}", points, monkeypatch, capsys)


def _kill_and_resume(root: str, points: list[tuple[str, str]], monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """Kill a pass at each point (after the passes before it ran): the pass after it exits 2, and the rerun writes
    the same chunks."""
    reference = _planned_and_processed(storage.join(root, "reference"), monkeypatch)
    _passes(reference)
    expected = _chunk_bytes(f"{reference}/labels/instances")
    assert sum(name.startswith("c/") for name in expected) == 8  # 4 blocks of 2 chunks: kills fall between chunks of one block, and between blocks
    flags = [p[0] for p in PASSES]
    for trial, (flag, fault) in enumerate(points):
        url = _planned_and_processed(storage.join(root, f"trial{trial}"), monkeypatch)
        index = flags.index(flag)
        _passes(url, PASSES[:index], finalise=False)
        killed = _stage_subprocess("decode", "--predictions", url, *PLAN, *PASSES[index], env={"EM2EXM_FAULT": fault})
        assert killed.wait(timeout=120) == -9, (fault, killed.stderr.read() if killed.stderr else "")
        killed.stdout.close(), killed.stderr.close()  # type: ignore[union-attr, func-returns-value]
        assert not commit.is_complete(f"{url}/labels/instances")
        after = PASSES[index + 1] if index + 1 < len(PASSES) else ["--finalise"]
        assert _decode("--predictions", url, *PLAN, *after) == 2, fault  # the killed pass is not complete
        _passes(url, PASSES[index:])
        assert _chunk_bytes(f"{url}/labels/instances") == expected, fault


# --- two writers ------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_two_concurrent_decodes_one_writes_the_other_exits_2(tmp_path: Path, capsys) -> None:
    reference = _predictions(tmp_path / "reference")
    assert _decode("--predictions", reference, *PLAN) == 0
    expected = _chunk_bytes(f"{reference}/labels/instances")
    for trial in range(8):
        url = _predictions(tmp_path / f"trial{trial}")
        labels = Path(url) / "labels" / "instances"
        first = _stage_subprocess("decode", "--predictions", url, *PLAN,
                                  env={"EM2EXM_FAULT": "outputs.claimed:1:sleep0.5"})
        deadline = time.monotonic() + 60
        while not (labels / lease.LEASE).exists():
            assert time.monotonic() < deadline and first.poll() is None
            time.sleep(0.01)
        capsys.readouterr()
        assert _decode("--predictions", url, *PLAN) == 2
        assert "being written by run" in capsys.readouterr().err
        out, err = first.communicate(timeout=120)
        assert first.returncode == 0, err
        assert _chunk_bytes(str(labels)) == expected
        assert commit.is_complete(str(labels)) and not (labels / lease.LEASE).exists()


# --- found by an adversarial review --------------------------------------------------------------------------

def test_overwrite_keeps_a_users_label_image_beside_em2exms(tmp_path: Path, tiff_input: str) -> None:
    output = tmp_path / "em.zarr"
    assert _ingest(tiff_input, str(output), "--labels", tiff_input.replace("em.tif", "labels.tif")) == 0
    mine = ome.create_labels(str(output), "my_annotation", np.uint32)
    mine[:] = 7
    assert _ingest(tiff_input, str(output), "--labels", tiff_input.replace("em.tif", "labels.tif"), "--overwrite") == 0
    assert ome.open_labels(str(output), "my_annotation").array[0, 0, 0] == 7
    assert sorted(ome.list_labels(str(output))) == ["groundtruth", "my_annotation"]


@pytest.mark.parametrize("spelling", ["double_slash", "symlink"])
def test_an_input_reached_another_way_is_still_an_input(tmp_path: Path, tiff_input: str, spelling: str, capsys) -> None:
    source = tmp_path / "em.zarr"
    assert _ingest(tiff_input, str(source)) == 0
    (tmp_path / "alias.zarr").symlink_to(source)
    output = {"double_slash": "/" + str(source), "symlink": str(tmp_path / "alias.zarr")}[spelling]
    before = _chunk_bytes(str(source))
    args = ["--image", str(source), "--voxel-size", "30", "8", "8", "--output", output, "--overwrite"]
    assert run_stage(ingest_stage.main, args) == 2
    assert "write the output to a separate location" in capsys.readouterr().err
    assert _chunk_bytes(str(source)) == before


def test_another_stages_output_is_never_replaced(tmp_path: Path, tiff_input: str, capsys) -> None:
    url = _predictions(tmp_path)
    assert _decode("--predictions", url, *PLAN) == 0
    capsys.readouterr()
    assert _ingest(tiff_input, f"{url}/labels/instances", "--overwrite") == 2
    assert "written by em2exm decode, not ingest" in capsys.readouterr().err
    assert commit.is_complete(f"{url}/labels/instances")


def test_an_output_of_an_older_em2exm_is_not_taken_as_current(tmp_path: Path, tiff_input: str, capsys) -> None:
    output = str(tmp_path / "em.zarr")
    assert _ingest(tiff_input, output) == 0
    storage.write_bytes(commit.marker_url(output), json.dumps({"stage": "ingest", "time": 1.0}).encode())
    assert _ingest(tiff_input, output, "--set", "clip_percentiles=[5,95]") == 2
    assert "older em2exm" in capsys.readouterr().err
    assert _ingest(tiff_input, output, "--set", "clip_percentiles=[5,95]", "--update") == 0
    assert commit.read_marker(output)["fingerprint"]["options.clip_percentiles"] == [5, 95]


def test_update_redoes_only_what_changed(tmp_path: Path, tiff_input: str) -> None:
    output = str(tmp_path / "em.zarr")
    assert _ingest(tiff_input, output) == 0
    first = commit.read_marker(output)["commit_id"]
    assert _ingest(tiff_input, output, "--update") == 0
    assert commit.read_marker(output)["commit_id"] == first
    assert _ingest(tiff_input, output, "--update", "--set", "clip_percentiles=[5,95]") == 0
    assert commit.read_marker(output)["commit_id"] != first


def test_a_slice_folder_rewritten_in_place_is_a_new_input(tmp_path: Path, capsys) -> None:
    import tifffile

    folder = tmp_path / "slices"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for z in range(4):
        tifffile.imwrite(folder / f"s{z:02d}.tif", rng.integers(0, 255, (16, 16), dtype=np.uint8))
    output = str(tmp_path / "em.zarr")
    assert _ingest(str(folder), output) == 0
    tifffile.imwrite(folder / "s02.tif", rng.integers(0, 255, (16, 16), dtype=np.uint8))
    os.utime(folder / "s02.tif", ns=(1, 1))
    capsys.readouterr()
    assert _ingest(str(folder), output) == 2
    assert "input.image was rewritten" in capsys.readouterr().err


def test_a_report_is_made_again_when_what_it_shows_changed(tmp_path: Path) -> None:
    shown = str(tmp_path / "evaluation")
    commit.mark_complete(shown, {"stage": "evaluate"})
    report = str(tmp_path / "report")

    def make() -> bool:
        with outputs.claim(report, stage="visualize", options={}, inputs={}, products=("report.md",), redo="never",
                           watch={"evaluation": shown}) as output:
            if output.complete:
                return False
            output.commit()
            return True

    assert make() and not make()
    commit.mark_complete(shown, {"stage": "evaluate"})  # evaluated again
    with pytest.raises(UserError, match="input.evaluation was rewritten"):
        make()


@pytest.mark.parametrize("output", ["/", "s3://bucket/./x", "s3://bucket/a/../x"])
def test_root_and_dotted_outputs_exit_2(tiff_input: str, output: str, capsys) -> None:
    assert _ingest(tiff_input, output) == 2
    assert capsys.readouterr().err.count("error:") == 1


def test_decode_label_names_cannot_escape_or_hide(tmp_path: Path, capsys) -> None:
    url = _predictions(tmp_path)
    for name in (".", ".em2exm_x"):
        assert _decode("--predictions", url, *PLAN, "--name", name) == 2
    assert "Traceback" not in capsys.readouterr().err
