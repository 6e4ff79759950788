"""`em2exm status` and `em2exm runs` on a demo-sized run in every step state, locally and on the real S3 server;
default run names; the best experiment."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest
from backends import cli
from conftest import DEMO_DATA
from em2exm import commit, runrecord, storage
from em2exm.config import load_pipeline
from em2exm.layout import RunLayout
from em2exm.lease import Lease
from em2exm.ranking import best_experiment
from em2exm.stagekit import run_stage
from em2exm.status import planned_blocks
from fakerun import STATES, copy_run, fake_run_fixture  # noqa: F401 - the session fixture

from stages import ingest


def states(result) -> dict[str, str]:
    return {step["name"]: step["state"] for step in json.loads(result.stdout)["steps"]}


def expected(fake_run) -> dict[str, str]:
    return {step.name: STATES.get(step.name, "not started") for step in fake_run.pipeline.steps}


def test_status_derives_every_step_state_from_the_outputs(fake_run, capsys):
    result = cli(capsys, "status", str(fake_run.store), "--json")
    assert result.code == 0, result.stderr
    status = json.loads(result.stdout)
    assert states(result) == expected(fake_run)
    steps = {step["name"]: step for step in status["steps"]}
    assert (steps["decode-intensity"]["blocks_done"], steps["decode-intensity"]["blocks_total"]) == (1, 8)
    assert (steps["decode-raw"]["blocks_done"], steps["decode-raw"]["blocks_total"]) == (8, 8)
    raw = RunLayout(str(fake_run.store)).instances("raw")  # the plan's block grid is the stage's own count
    assert planned_blocks(raw) == commit.read_marker(raw)["blocks"] == 8
    assert steps["evaluate-intensity"]["exit_code"] == 2 and steps["evaluate-intensity"]["wall_s"] > 0
    attempt = runrecord.read_attempt(str(fake_run.store), "ingest-em")  # em2exm run's own record of the step
    assert attempt["exit_code"] == 0 and steps["ingest-em"]["wall_s"] == attempt["end"] - attempt["start"] > 0
    assert steps["seg-train-raw"]["wall_s"] is None and steps["decode-oracle"]["wall_s"] > 0  # plan to commit
    assert (status["done"], status["total"]) == (list(STATES.values()).count("done"), len(fake_run.pipeline.steps))
    assert status["best"] == "raw" and set(status["metrics"]) == {"raw", "oracle"}
    assert status["metrics"]["oracle"]["ap@0.5"] > status["metrics"]["raw"]["ap@0.5"]

    text = cli(capsys, "status", str(fake_run.store)).stdout
    lines = {line.split()[0]: line for line in text.splitlines() if line and line.split()[0] in steps}
    assert "partial (1 of 8 blocks)" in lines["decode-intensity"]
    assert "failed (exit 2)" in lines["evaluate-intensity"] and "not started" in lines["seg-train-raw"]
    assert "| (a) trained on raw EM (no adaptation) |" in text and "best: raw (AP@0.5 " in text
    assert text.startswith(f"run {status['name']} ({fake_run.store}): {status['done']} of {status['total']} steps done")


def test_a_decode_between_its_passes_reports_each_pass(fake_run, tmp_path, capsys):
    store = copy_run(fake_run, tmp_path / "run")
    url = RunLayout(str(store)).instances("intensity")  # 1 of 8 blocks done in the fake run
    for block in range(8):
        commit.mark_block_done(url, block)
    commit.mark_pass(url, "merge", {"seeds": 5})
    for block in (0, 3, 5):
        commit.mark_block_done(url, block, folder=commit.pass_folder("flood", 0))
    assert "partial (8 of 8 blocks, merge done, flood round 1: 3 of 8)" in decode_line(capsys, store)
    for block in range(8):
        commit.mark_block_done(url, block, folder=commit.pass_folder("flood", 0))
    commit.mark_pass(url, "flood.0", {"changed": True})  # the settle closed round 0: another round
    assert "partial (8 of 8 blocks, merge done, flood round 2: 0 of 8)" in decode_line(capsys, store)
    commit.mark_block_done(url, 6, folder=commit.pass_folder("flood", 1))
    assert "partial (8 of 8 blocks, merge done, flood round 2: 1 of 8)" in decode_line(capsys, store)
    for block in range(8):
        commit.mark_block_done(url, block, folder=commit.pass_folder("flood", 1))
    commit.mark_pass(url, "settle", {"flood_rounds": 2})
    commit.mark_pass(url, "number", {"instances": 5})
    commit.mark_block_done(url, 2, folder=commit.pass_folder("apply"))
    assert "partial (8 of 8 blocks, merge done, flood settled after 2 rounds, number done, apply 1 of 8)" in (
        decode_line(capsys, store))


def decode_line(capsys: pytest.CaptureFixture, store: Path) -> str:
    return next(line for line in cli(capsys, "status", str(store)).stdout.splitlines()
                if line.startswith("decode-intensity"))


def test_status_reads_the_pipeline_yaml_and_a_moved_store(fake_run, tmp_path, capsys):
    from_yaml = cli(capsys, "status", str(fake_run.config), "--json")
    moved = cli(capsys, "status", str(copy_run(fake_run, tmp_path / "moved")), "--json")
    assert states(from_yaml) == states(moved) == expected(fake_run)
    assert json.loads(moved.stdout)["store"] == str(tmp_path / "moved")


def test_a_step_whose_output_is_leased_is_running(fake_run, tmp_path, capsys):
    store = copy_run(fake_run, tmp_path / "run")
    lease = Lease(RunLayout(str(store)).seg_model("oracle"), "seg-train", joinable=False)
    lease.acquire()
    try:
        running = json.loads(cli(capsys, "status", str(store), "--json").stdout)
    finally:
        lease.release()
    step = next(step for step in running["steps"] if step["name"] == "seg-train-oracle")
    assert step["state"] == "running" and f"pid {os.getpid()} on " in step["writer"]
    assert states(cli(capsys, "status", str(store), "--json"))["seg-train-oracle"] == "not started"


def test_runs_lists_the_runs_of_a_store_by_name(fake_run, tmp_path, capsys):
    runs = tmp_path / "runs"
    copy_run(fake_run, runs / "zz-fake")
    other = runs / "argo-made"  # a run no `em2exm run` recorded: an EM volume ingested by the stage itself
    image = str(DEMO_DATA / "gala_fibsem_train" / "raw.tif")
    assert run_stage(ingest.main, ["--image", image, "--voxel-size", "10", "10", "10", "--output", str(other / "em.zarr")]) == 0
    (runs / "notes").mkdir()
    (runs / "notes" / "todo.txt").write_text("not a run")
    listed = json.loads(cli(capsys, "runs", str(runs), "--json").stdout)
    name = load_pipeline(str(fake_run.config)).run.name
    assert [run["name"] for run in listed] == sorted(["argo-made", name])
    fake = next(run for run in listed if run["name"] == name)
    assert (fake["done"], fake["total"], fake["best"]) == (list(STATES.values()).count("done"), len(fake_run.pipeline.steps), "raw")
    assert fake["ap"] is not None and fake["voi"] is not None and fake["store"] == str(runs / "zz-fake")
    assert next(run for run in listed if run["name"] == "argo-made")["done"] is None
    text = cli(capsys, "runs", str(runs)).stdout.splitlines()
    assert text[0].split() == ["name", "steps", "best", "AP@0.5", "VOI", "store"]
    assert text[1].startswith("argo-made") and f"{fake['done']}/{fake['total']}  raw" in text[2]


def test_status_and_runs_on_s3(fake_run, s3_env, capsys):
    runs = f"s3://{s3_env.bucket}/status-{uuid.uuid4().hex[:8]}/runs"
    fs, path = storage.filesystem(runs)
    fs.put(str(fake_run.store), path + "/fake", recursive=True)
    remote = cli(capsys, "status", f"{runs}/fake", "--json")
    assert remote.code == 0, remote.stderr
    assert states(remote) == expected(fake_run)
    assert json.loads(remote.stdout)["store"] == f"{runs}/fake"
    [listed] = json.loads(cli(capsys, "runs", runs, "--json").stdout)
    assert listed["best"] == "raw" and listed["total"] == len(fake_run.pipeline.steps)


BAD = {
    "status: no such run": (["status", "{tmp}/nothing"], "does not exist"),
    "status: a folder no run recorded": (["status", "{tmp}"], "holds no run record"),
    "status: bucket-less URL": (["status", "s3:///runs/x"], "names no bucket"),
    "status: unknown flag": (["status", "{tmp}", "--colour"], "unrecognized arguments"),
    "runs: no such store": (["runs", "{tmp}/nothing"], "is not a folder or prefix that exists"),
    "runs: a store without runs": (["runs", "{tmp}"], "holds no em2exm runs"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_input_is_one_line_and_exit_2(name, tmp_path, capsys):
    argv, expect = BAD[name]
    (tmp_path / "notes.txt").write_text("not a run")
    result = cli(capsys, *(arg.format(tmp=tmp_path) for arg in argv))
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.code == 2 and len(errors) == 1 and expect in errors[0] and " -- fix: " in errors[0], result.stderr


def test_a_missing_bucket_is_one_line_and_exit_2(s3_env, capsys):
    result = cli(capsys, "status", "s3://no-such-bucket-em2exm/run")
    assert result.code == 2 and result.stderr.startswith("error: bucket 'no-such-bucket-em2exm'"), result.stderr


def test_default_run_name_follows_the_convention(fake_run):
    name = load_pipeline(str(fake_run.config)).run.name
    assert name == "light-resnet-6blocks__gala-fibsem-train-to-plantseg-ovule__fake-demo__bc-seg300-gan600"
    assert load_pipeline(str(fake_run.config), ["run.name=mine"]).run.name == "mine"
    assert json.loads((fake_run.store / ".em2exm_run" / "run.json").read_text())["name"] == name


def test_the_best_experiment_is_the_best_adaptation_not_a_ceiling():
    rows = {"raw": {"ap@0.5": 0.1, "voi": 3.0}, "oracle": {"ap@0.5": 0.4, "voi": 1.0},
            "segmatch": {"ap@0.5": 0.2, "voi": 3.5}, "intensity": {"ap@0.5": 0.2, "voi": 3.4}}
    assert best_experiment(rows) == "intensity"  # AP tie: the lower VOI
    assert best_experiment({"oracle": rows["oracle"]}) == "oracle"
    assert best_experiment({}) is None
