"""seg-train and seg-infer stages end to end on gala: outputs, resume after SIGKILL, bad input, blockwise fan-out.

Stages run through the CLI (a fresh process, one OpenMP thread) or in-process through ``stagekit.run_stage``
with one torch thread, so the numbers of both paths agree bit for bit.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import DEMO_DATA, REPO, run_cli
from em2exm import commit, ome, previews, stagekit
from em2exm.seg.checkpoint import load_checkpoint

from stages import seg_infer, seg_train

ONE_THREAD = {"OMP_NUM_THREADS": "1"}
TRAIN = ["--set", "preset=light", "--set", "patch=[5,17,17]", "--set", "batch=1", "--set", "iterations=20",
         "--set", "val_interval=10", "--set", "log_interval=5", "--set", "val_max_patches=2", "--set", "device=cpu"]
INFER = ["--set", "window=[9,33,33]", "--set", "device=cpu"]
WHOLE, FOUR, MANY = "block=[64,128,64]", "block=[32,64,40]", "block=[16,50,40]"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """gala ingested, split by build-dataset, and a light U-Net trained 20 iterations by the seg-train CLI."""
    root = tmp_path_factory.mktemp("seg")
    gala = DEMO_DATA / "gala_fibsem_train"
    steps = [
        ("ingest", "--image", str(gala / "raw.tif"), "--labels", str(gala / "labels.tif"),
         "--voxel-size", "10", "10", "10", "--output", str(root / "em.zarr")),
        ("build-dataset", "--image", str(root / "em.zarr"), "--labels", str(root / "em.zarr" / "labels" / "groundtruth"),
         "--output", str(root / "ds")),
        ("seg-train", "--dataset", str(root / "ds"), "--output", str(root / "model"), "--set", "checkpoint_interval=10",
         *TRAIN),
    ]
    for step in steps:
        result = run_cli(*step, env=ONE_THREAD)
        assert result.code == 0, result.stderr
    return root


def _infer(store: Path, output: Path, *extra: str) -> int:
    args = ["--checkpoint", str(store / "model"), "--image", str(store / "ds" / "val.zarr"), "--output", str(output)]
    return stagekit.run_stage(seg_infer.main, [*args, *INFER, *extra])


@pytest.fixture(scope="module")
def whole(store: Path) -> np.ndarray:
    """seg-infer of the validation volume in a single block."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    assert _infer(store, store / "whole.zarr", "--set", WHOLE) == 0
    torch.set_num_threads(threads)
    return ome.open_image(str(store / "whole.zarr")).array[:]


def _kill_when(args: list[str], ready: Callable[[], bool]) -> None:
    """Start the CLI with ``args`` and SIGKILL it as soon as ``ready()``."""
    process = subprocess.Popen([sys.executable, "-m", "em2exm", *args], cwd=REPO, env={**os.environ, **ONE_THREAD},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not ready():
        assert process.poll() is None, "the stage finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()


def test_train_writes_a_committed_model_folder(store):
    model = store / "model"
    assert commit.is_complete(str(model))
    state = load_checkpoint((model / "checkpoint.pt").read_bytes())  # weights_only=True
    assert state["iteration"] == 20 and {"optimizer", "rng", "torch_rng"} <= state.keys()
    assert state["config"]["voxel_size"] == [10.0, 10.0, 10.0]  # from the dataset's OME metadata
    series = previews.read_loss_log((model / "losses.jsonl").read_text())
    assert series["loss"][0] == [5, 10, 15, 20] and series["val_loss"][0] == [10, 20]
    assert {"loss_B", "loss_C", "loss_D", "val_f1"} <= series.keys()
    assert any(p.name.startswith("events.out.tfevents") for p in (model / "tensorboard").iterdir())
    assert (model / "validation.png").read_bytes()[:4] == b"\x89PNG"
    assert commit.read_marker(str(model))["iteration"] == 20


def test_killed_training_resumes_to_the_same_model(store, tmp_path):
    out = tmp_path / "model"
    args = ["seg-train", "--dataset", str(store / "ds"), "--output", str(out), "--set", "checkpoint_interval=5", *TRAIN]
    _kill_when(args, (out / "checkpoint.pt").exists)
    assert not commit.is_complete(str(out))
    saved = load_checkpoint((out / "checkpoint.pt").read_bytes())["iteration"]
    assert saved in (5, 10, 15)
    assert stagekit.run_stage(seg_train.main, args[1:]) == 0
    resumed = load_checkpoint((out / "checkpoint.pt").read_bytes())
    reference = load_checkpoint((store / "model" / "checkpoint.pt").read_bytes())
    assert resumed["iteration"] == 20
    for name, tensor in reference["model"].items():
        assert torch.equal(resumed["model"][name], tensor), name
    iterations = [json.loads(line)["iteration"] for line in (out / "losses.jsonl").read_text().splitlines()]
    assert iterations == [5, 10, 10, 15, 20, 20]  # no record twice across the kill


def test_bad_input_exits_2_and_writes_nothing(store, tmp_path, capsys):
    out = tmp_path / "out"
    cases = [
        (seg_train.main, ["--dataset", str(tmp_path / "missing"), "--output", str(out)], "no complete dataset"),
        (seg_train.main, ["--dataset", str(store / "ds"), "--output", str(out), "--set", "epochs=3"], "epochs"),
        (seg_train.main, ["--dataset", str(store / "ds"), "--output", str(out), "--set", "patch=[5,17,999]"], "smaller"),
        (seg_infer.main, ["--checkpoint", str(tmp_path / "nothing"), "--image", str(store / "em.zarr"), "--output", str(out)],
         "is not a finished seg-train output"),
        (seg_infer.main, ["--checkpoint", str(store / "model"), "--image", str(store / "em.zarr"), "--output", str(out),
                          "--set", "tta=3"], "tta"),
    ]
    for main, argv, message in cases:
        assert stagekit.run_stage(main, argv) == 2, argv
        assert message in capsys.readouterr().err
        assert not out.exists()


def test_infer_output_is_named_uint8_maps(store, whole):
    volume = ome.open_image(str(store / "whole.zarr"))
    image = ome.open_image(str(store / "ds" / "val.zarr"))
    assert volume.axes == ("c", "z", "y", "x") and volume.array.dtype == np.uint8
    assert volume.shape == (3, *image.spatial_shape) and volume.voxel_size == image.voxel_size
    assert volume.attrs["channels"] == ["foreground", "contour", "distance"]
    assert volume.attrs["training"]["target"] == "bcd" and commit.is_complete(str(store / "whole.zarr"))
    assert whole.min() < whole.max()


def test_plan_blocks_finalise_equals_whole(store, whole, tmp_path, capsys):
    out = tmp_path / "fanout.zarr"
    assert _infer(store, out, "--set", FOUR, "--plan-blocks", "3") == 0
    ranges = json.loads(capsys.readouterr().out)
    assert ranges == ["0:3", "3:4"]  # 4 blocks
    assert _infer(store, out, "--set", FOUR, "--blocks", ranges[0]) == 0
    assert _infer(store, out, "--set", FOUR, "--finalise") == 2 and not commit.is_complete(str(out))
    assert _infer(store, out, "--set", FOUR, "--blocks", ranges[1]) == 0
    assert _infer(store, out, "--set", FOUR, "--finalise") == 0
    np.testing.assert_array_equal(ome.open_image(str(out)).array[:], whole)


def test_killed_inference_resumes_with_the_same_result(store, whole, tmp_path):
    out = tmp_path / "killed.zarr"
    args = ["seg-infer", "--checkpoint", str(store / "model"), "--image", str(store / "ds" / "val.zarr"),
            "--output", str(out), *INFER, "--set", MANY]
    _kill_when(args, lambda: bool(commit.done_blocks(str(out))))
    done = commit.done_blocks(str(out))
    assert 0 < len(done) < 8 and not commit.is_complete(str(out))
    assert stagekit.run_stage(seg_infer.main, args[1:]) == 0
    np.testing.assert_array_equal(ome.open_image(str(out)).array[:], whole)
