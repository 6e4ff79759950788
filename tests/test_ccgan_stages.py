"""ccgan-train and ccgan-transfer stages: outputs and formats, exact resume after a kill, bad input exits 2 with
nothing written, whole-volume transfer equals the fanned-out one, labels carried over, S3 round trip."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REPO, run_cli
from em2exm import commit, ome, storage
from em2exm.ccgan.checkpoint import load_checkpoint
from em2exm.previews import read_loss_log
from em2exm.stagekit import run_stage
from scipy import ndimage as ndi

from stages import ccgan_train, ccgan_transfer

ONE_THREAD = {"OMP_NUM_THREADS": "1"}  # two shared cores: one thread avoids OpenMP stalls on tiny tensors
TINY = ["--set", "ngf=4", "--set", "ndf=4", "--set", "netG=resnet_6blocks", "--set", "patch=[32,32]"]
SCHEDULE = ["--set", "n_epochs=2", "--set", "n_epochs_decay=1", "--set", "iters_per_epoch=10"]  # 30 iterations
INTERVALS = ["--set", "log_interval=4", "--set", "sample_interval=10", "--set", "checkpoint_interval=5"]
TINY_3D = ["--set", "dims=3", "--set", "patch=[13,25,25]", "--set", "ngf=4", "--set", "ndf=4",
           "--set", "netG=resnet_6blocks", "--set", "n_epochs=1", "--set", "n_epochs_decay=1",
           "--set", "iters_per_epoch=1"]  # fmt: skip


def write_volumes(root: Path) -> dict[str, str]:
    """Synthetic EM (dark membranes around cells, with labels) and ExM (blurred bright membranes) volumes."""
    rng = np.random.default_rng(0)
    z, y, x = np.indices((14, 40, 48))
    membrane = (y % 12 == 0) | (x % 12 == 0)
    labels = np.where(membrane, 0, (y // 12) * 4 + x // 12 + 1).astype(np.uint32)
    em = np.clip(np.where(membrane, 50, 190) + rng.normal(0, 12, labels.shape), 0, 255).astype(np.uint8)
    exm_membrane = ndi.gaussian_filter(((y % 10 == 0) | (x % 10 == 0)).astype(float)[:, :, :40], 1.0)
    exm = np.clip(exm_membrane * 400 + rng.normal(20, 8, exm_membrane.shape), 0, 255).astype(np.uint8)
    urls = {"em": str(root / "em.zarr"), "exm": str(root / "exm.zarr")}
    ome.create_image(urls["em"], em.shape, np.uint8, (40, 16, 16))[:] = em
    ome.create_labels(urls["em"], "groundtruth", np.uint32)[:] = labels
    ome.create_image(urls["exm"], exm.shape, np.uint8, (40, 16, 16))[:] = exm
    urls["labels"] = f"{urls['em']}/labels/groundtruth"
    return urls


@pytest.fixture(scope="module")
def volumes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return write_volumes(tmp_path_factory.mktemp("volumes"))


def train_args(volumes: dict[str, str], output: str) -> list[str]:
    return ["--a", volumes["em"], "--a-labels", volumes["labels"], "--b", volumes["exm"], "--output", output]


@pytest.fixture(scope="module")
def trained(volumes: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2D model trained 30 iterations through the real CLI."""
    output = tmp_path_factory.mktemp("train") / "ccgan"
    result = run_cli("ccgan-train", *train_args(volumes, str(output)), *TINY, *SCHEDULE, *INTERVALS, env=ONE_THREAD)
    assert result.code == 0, result.stderr
    return output


def transfer(checkpoint: str, volumes: dict[str, str], output: str, *extra: str) -> int:
    args = ["--checkpoint", checkpoint, "--image", volumes["em"], "--labels", volumes["labels"], "--output", output]
    return run_stage(ccgan_transfer.main, [*args, "--set", "block=[16,16,32]", *extra])


def test_train_writes_checkpoint_losses_samples_and_marker(trained: Path) -> None:
    assert commit.is_complete(str(trained))
    state = load_checkpoint((trained / "checkpoint.pt").read_bytes())
    assert state["iteration"] == 30 and set(state["nets"]) == {"G_A", "G_B", "D_A", "D_B"}
    assert set(state["optimizers"]) == {"G", "D"} and state["schedulers"]["G"]["last_epoch"] == 30
    series = read_loss_log((trained / "losses.jsonl").read_text())
    assert series["cycle_A"][0] == [4, 8, 12, 16, 20, 24, 28, 30]
    assert {"G_A", "G_B", "D_A", "D_B", "seg_syn", "seg_rec", "polarity_A", "polarity_B"} <= set(series)
    assert "lr" not in series and "idt_A" not in series  # identity loss off by default (EM -> ExM inverts contrast)
    samples = sorted(p.name for p in (trained / "samples").iterdir())
    assert samples == ["iter_0000010.png", "iter_0000020.png", "iter_0000030.png"]
    assert (trained / "samples" / samples[0]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert any((trained / "tensorboard").iterdir())
    assert not [p for p in trained.iterdir() if ".tmp" in p.name]


def test_killed_training_resumes_to_the_same_weights(volumes: dict[str, str], trained: Path, tmp_path: Path) -> None:
    output = tmp_path / "killed"
    args = [sys.executable, "-m", "em2exm", "ccgan-train", *train_args(volumes, str(output)), *TINY, *SCHEDULE,
            *INTERVALS]  # fmt: skip
    process = subprocess.Popen(args, cwd=REPO, env={**os.environ, **ONE_THREAD}, stderr=subprocess.DEVNULL)
    while not (output / "checkpoint.pt").exists():
        assert process.poll() is None, "training ended before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not commit.is_complete(str(output))
    killed_at = load_checkpoint((output / "checkpoint.pt").read_bytes())["iteration"]
    assert 0 < killed_at < 30

    resumed = run_cli("ccgan-train", *train_args(volumes, str(output)), *TINY, *SCHEDULE, *INTERVALS, env=ONE_THREAD)
    assert resumed.code == 0, resumed.stderr
    assert f"resuming from iteration {killed_at}" in resumed.stderr
    final = load_checkpoint((output / "checkpoint.pt").read_bytes())
    clean = load_checkpoint((trained / "checkpoint.pt").read_bytes())
    for net in ("G_A", "D_B"):
        for name, tensor in clean["nets"][net].items():
            assert torch.equal(final["nets"][net][name], tensor), f"{net}.{name}"
    iterations = read_loss_log((output / "losses.jsonl").read_text())["cycle_A"][0]
    assert iterations == [4, 8, 12, 16, 20, 24, 28, 30]


def test_complete_training_is_a_no_op_and_resume_needs_same_network(volumes: dict[str, str], tmp_path: Path) -> None:
    output = str(tmp_path / "ccgan")
    base = [*train_args(volumes, output), *TINY, "--set", "n_epochs=1", "--set", "n_epochs_decay=0",
            "--set", "iters_per_epoch=2"]  # fmt: skip
    assert run_stage(ccgan_train.main, base) == 0
    stamp = os.path.getmtime(f"{output}/checkpoint.pt")
    assert run_stage(ccgan_train.main, base) == 0
    assert os.path.getmtime(f"{output}/checkpoint.pt") == stamp
    os.remove(commit.marker_url(output))  # as if killed after the last checkpoint
    assert run_stage(ccgan_train.main, [*base, "--set", "ngf=8"]) == 2


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"labels": "exm"}, "differ in shape"),
        ({"b": "missing"}, "no OME-Zarr image"),
        ({"set": "bogus_key=1"}, "unknown config key 'bogus_key'"),
        ({"set": "patch=[200,200]"}, "smaller than the patch"),
        ({"set": "device=cuda"}, "cuda"),
    ],
)
def test_train_bad_input_exit_2_writes_nothing(
    volumes: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture, change: dict[str, str], message: str
) -> None:
    if change.get("set") == "device=cuda" and torch.cuda.is_available():
        pytest.skip("a GPU is present")
    urls = dict(volumes)
    if "labels" in change:
        urls["labels"] = f"{volumes['exm']}/labels/groundtruth"
        ome.create_labels(urls["exm"], "groundtruth", np.uint32)
    if "b" in change:
        urls["exm"] = str(tmp_path / "missing.zarr")
    output = tmp_path / "out"
    extra = ["--set", change["set"]] if "set" in change else []
    assert run_stage(ccgan_train.main, [*train_args(urls, str(output)), *TINY, *extra]) == 2
    assert message in capsys.readouterr().err
    assert not output.exists()


def test_transfer_whole_equals_fanned_out_and_resumes(
    trained: Path, volumes: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture
) -> None:
    whole, fanned = str(tmp_path / "whole.zarr"), str(tmp_path / "fanned.zarr")
    assert transfer(str(trained), volumes, whole) == 0
    capsys.readouterr()
    assert transfer(str(trained), volumes, fanned, "--plan-blocks", "2") == 0
    ranges = json.loads(capsys.readouterr().out)
    assert ranges == ["0:2", "2:4", "4:6"]  # blocks of 16 x 16 x 32 over 14 x 40 x 48
    assert transfer(str(trained), volumes, fanned, "--blocks", ranges[0]) == 0
    assert transfer(str(trained), volumes, fanned, "--finalise") == 2  # blocks missing
    assert transfer(str(trained), volumes, fanned, "--blocks", ranges[2]) == 0
    with caplog.at_level(logging.INFO):
        assert transfer(str(trained), volumes, fanned) == 0  # resumes: finished blocks are skipped
    assert "skipping 4 finished blocks" in caplog.text
    assert commit.is_complete(whole) and commit.is_complete(fanned)

    em, out = ome.open_image(volumes["em"]), ome.open_image(fanned)
    assert out.shape == em.shape and out.array.dtype == np.uint8 and out.voxel_size == em.voxel_size
    assert np.array_equal(out.array[:], ome.open_image(whole).array[:])
    assert 0 < out.array[:].std()
    seg = ome.open_image(f"{fanned}/seg_probability")
    assert seg.axes == ("c", "z", "y", "x") and seg.shape == (1, *em.shape) and seg.array.dtype == np.uint8
    assert np.array_equal(seg.array[:], ome.open_image(f"{whole}/seg_probability").array[:])
    assert ome.list_labels(fanned) == ["groundtruth"]
    assert np.array_equal(ome.open_labels(fanned, "groundtruth").array[:], ome.open_image(volumes["labels"]).array[:])


def test_transfer_3d_blockwise_equals_whole(volumes: dict[str, str], tmp_path: Path) -> None:
    model = str(tmp_path / "ccgan3d")
    assert run_stage(ccgan_train.main, [*train_args(volumes, model), *TINY_3D, "--set", "seg_target=bc"]) == 0
    whole, blocks = str(tmp_path / "whole.zarr"), str(tmp_path / "blocks.zarr")
    assert transfer(model, volumes, whole, "--set", "block=[16,48,48]") == 0
    assert transfer(model, volumes, blocks) == 0
    assert np.array_equal(ome.open_image(whole).array[:], ome.open_image(blocks).array[:])
    seg = ome.open_image(f"{blocks}/seg_probability").array[:]
    assert seg.shape[0] == 2 and np.array_equal(seg, ome.open_image(f"{whole}/seg_probability").array[:])


def test_transfer_bad_input_exit_2_writes_nothing(
    trained: Path, volumes: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    output = tmp_path / "out.zarr"
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "checkpoint.pt").write_bytes((trained / "checkpoint.pt").read_bytes())
    assert transfer(str(unfinished), volumes, str(output)) == 2
    assert "not a finished ccgan-train output" in capsys.readouterr().err
    assert transfer(str(unfinished / "checkpoint.pt"), volumes, str(output), "--set", "patch=[3,3]") == 2
    assert "too small" in capsys.readouterr().err
    bad = dict(volumes, labels=f"{volumes['exm']}/labels/groundtruth")
    ome.create_labels(bad["exm"], "groundtruth", np.uint32)
    assert transfer(str(trained), bad, str(output)) == 2
    assert "differ in shape" in capsys.readouterr().err
    assert not output.exists()


def test_s3_round_trip(s3_env, trained: Path, volumes: dict[str, str]) -> None:
    """Train into and transfer from S3 (inputs local), then read the outputs back."""
    run = f"s3://{s3_env.bucket}/{uuid.uuid4().hex}"
    schedule = ["--set", "n_epochs=1", "--set", "n_epochs_decay=0", "--set", "iters_per_epoch=2"]
    assert run_stage(ccgan_train.main, [*train_args(volumes, f"{run}/ccgan"), *TINY, *schedule]) == 0
    assert commit.is_complete(f"{run}/ccgan")
    assert read_loss_log(storage.read_bytes(f"{run}/ccgan/losses.jsonl").decode())["cycle_A"][0] == [2]
    assert storage.list_names(f"{run}/ccgan/samples") == ["iter_0000002.png"]
    assert not storage.exists(f"{run}/ccgan/tensorboard")
    assert transfer(f"{run}/ccgan", volumes, f"{run}/transferred.zarr") == 0
    out = ome.open_image(f"{run}/transferred.zarr")
    assert out.shape == ome.open_image(volumes["em"]).shape and out.array[:].std() > 0
    assert np.array_equal(ome.open_labels(f"{run}/transferred.zarr", "groundtruth").array[:],
                          ome.open_image(volumes["labels"]).array[:])  # fmt: skip


@pytest.mark.parametrize("dims", [2, 3])
def test_split_backward_conv_gives_autograds_gradients(dims: int) -> None:
    """The trunk's 3x3 convolutions (channels-last, CPU) compute the weight gradient on contiguous copies."""
    from em2exm.ccgan.conv import Conv2d, Conv3d

    torch.manual_seed(0)
    fmt = torch.channels_last if dims == 2 else torch.channels_last_3d
    ours = (Conv2d if dims == 2 else Conv3d)(3, 5, 3).double().to(memory_format=fmt)
    plain = (torch.nn.Conv2d if dims == 2 else torch.nn.Conv3d)(3, 5, 3).double()
    plain.load_state_dict(ours.state_dict())
    x = torch.randn((2, 3, *([7] * dims)), dtype=torch.double).contiguous(memory_format=fmt).requires_grad_()
    assert torch.autograd.gradcheck(ours, (x,))
    grads = [torch.autograd.grad(net(x).square().sum(), (x, net.weight, net.bias)) for net in (ours, plain)]
    for mine, reference in zip(*grads):
        torch.testing.assert_close(mine, reference)
