"""ingest: formats in, OME-Zarr out at the requested voxel size; bad input -> exit 2, one line, nothing written."""

from __future__ import annotations

import os
import uuid

import h5py
import numpy as np
import pytest
import tifffile
import zarr
from conftest import DEMO_DATA, run_cli
from em2exm import commit, ome
from em2exm.stagekit import run_stage

from stages import ingest

GALA = DEMO_DATA / "gala_fibsem_train"


def _volume(shape=(12, 20, 24), seed=0):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 4000, shape, dtype=np.uint16)
    labels = np.zeros(shape, np.uint16)
    labels[:, :10] = 5
    labels[:, 10:, :12] = 9
    return image, labels


def test_ingest_real_em_resamples_to_target(tmp_path):
    out = tmp_path / "em.zarr"
    result = run_cli("ingest", "--image", str(GALA / "raw.tif"), "--labels", str(GALA / "labels.tif"),
                     "--voxel-size", "10", "10", "10", "--target-voxel-size", "20", "20", "40", "--output", str(out))
    assert result.code == 0, result.stderr
    volume = ome.open_image(str(out))
    assert volume.shape == (25, 50, 50)
    assert volume.voxel_size == (20.0, 20.0, 40.0)
    assert volume.array.dtype == np.uint8
    data = volume.array[:]
    assert data.min() == 0 and data.max() == 255
    labels = ome.open_labels(str(out), "groundtruth").array[:]
    source_ids = set(np.unique(tifffile.imread(GALA / "labels.tif")))
    assert set(np.unique(labels)) <= source_ids
    assert commit.is_complete(str(out))


def test_expansion_factor_sets_physical_voxel_size(tmp_path):
    out = tmp_path / "exm.zarr"
    image, _ = _volume()
    tifffile.imwrite(tmp_path / "x.tif", image)
    assert run_cli("ingest", "--image", str(tmp_path / "x.tif"), "--voxel-size", "200", "100", "100",
                   "--expansion-factor", "4", "--output", str(out)).code == 0
    volume = ome.open_image(str(out))
    assert volume.voxel_size == (50.0, 25.0, 25.0) and volume.shape == image.shape


def test_formats_agree(tmp_path):
    """tiff, h5 dataset, zarr array, a folder of slices and a 4D stack give the same result."""
    image, labels = _volume()
    tifffile.imwrite(tmp_path / "a.tif", image)
    with h5py.File(tmp_path / "a.h5", "w") as f:
        f["group/raw"] = image
        f["labels"] = labels
    zarr.save_array(str(tmp_path / "a.zarr"), image)
    (tmp_path / "slices").mkdir()
    for z, plane in enumerate(image):
        tifffile.imwrite(tmp_path / "slices" / f"s{z:03d}.tif", plane)
    tifffile.imwrite(tmp_path / "stack.tif", np.stack([image * 0, image]))
    sources = {
        "tif": [str(tmp_path / "a.tif")],
        "h5": [f"{tmp_path / 'a.h5'}:/group/raw"],
        "zarr": [str(tmp_path / "a.zarr")],
        "slices": [str(tmp_path / "slices")],
        "stack": [str(tmp_path / "stack.tif"), "--subvolume", "1"],
    }
    results = {}
    for name, image_args in sources.items():
        out = tmp_path / f"out-{name}.zarr"
        result = run_cli("ingest", "--image", *image_args, "--voxel-size", "8", "8", "8", "--output", str(out))
        assert result.code == 0, (name, result.stderr)
        results[name] = ome.open_image(str(out)).array[:]
    for name, data in results.items():
        assert np.array_equal(data, results["tif"]), name


def test_histeq_and_invert(tmp_path):
    image, _ = _volume()
    tifffile.imwrite(tmp_path / "a.tif", image)
    plain, eq = tmp_path / "p.zarr", tmp_path / "e.zarr"
    assert run_cli("ingest", "--image", str(tmp_path / "a.tif"), "--voxel-size", "1", "1", "1", "--output", str(plain)).code == 0
    assert run_cli("ingest", "--image", str(tmp_path / "a.tif"), "--voxel-size", "1", "1", "1", "--output", str(eq),
                   "--set", "histeq=true", "--set", "invert=true").code == 0
    a, b = ome.open_image(str(plain)).array[:], ome.open_image(str(eq)).array[:]
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] < -0.9


def test_rerun_is_noop_and_overwrite_redoes(tmp_path):
    image, _ = _volume()
    tifffile.imwrite(tmp_path / "a.tif", image)
    out = tmp_path / "o.zarr"
    args = ["ingest", "--image", str(tmp_path / "a.tif"), "--voxel-size", "1", "1", "1", "--output", str(out)]
    assert run_cli(*args).code == 0
    first = commit.read_marker(str(out))["time"]
    assert "nothing to do" in run_cli(*args).stderr
    assert commit.read_marker(str(out))["time"] == first
    assert run_cli(*args, "--overwrite").code == 0
    assert commit.read_marker(str(out))["time"] > first


def _bad_inputs(tmp_path):
    image, labels = _volume()
    tifffile.imwrite(tmp_path / "img.tif", image)
    tifffile.imwrite(tmp_path / "lab_small.tif", labels[:, :5])
    tifffile.imwrite(tmp_path / "flat.tif", image[0])
    tifffile.imwrite(tmp_path / "float_labels.tif", labels.astype(np.float32) + 0.5)
    tifffile.imwrite(tmp_path / "stack.tif", np.stack([image, image]))
    (tmp_path / "corrupt.tif").write_bytes(b"II*\x00" + os.urandom(200))
    full = (tmp_path / "img.tif").read_bytes()
    (tmp_path / "truncated.tif").write_bytes(full[: len(full) // 3])
    with h5py.File(tmp_path / "two.h5", "w") as f:
        f["a"], f["b"] = image, image
    (tmp_path / "bad.yaml").write_text("ingest:\n  clip_percentile: [1, 99]\n")
    img, vs = ["--image", str(tmp_path / "img.tif")], ["--voxel-size", "1", "1", "1"]
    return {
        "shape mismatch": (img + ["--labels", str(tmp_path / "lab_small.tif")] + vs, "does not match image shape"),
        "2D file": (["--image", str(tmp_path / "flat.tif")] + vs, "3D"),
        "missing file": (["--image", str(tmp_path / "nope.tif")] + vs, "does not exist"),
        "unknown config key": (img + vs + ["--config", str(tmp_path / "bad.yaml")], "unknown config key 'clip_percentile'"),
        "unknown --set key": (img + vs + ["--set", "histeqq=true"], "unknown config key 'histeqq'"),
        "missing voxel size": (img, "no voxel size"),
        "float labels": (img + ["--labels", str(tmp_path / "float_labels.tif")] + vs, "not non-negative integers"),
        "4D without index": (["--image", str(tmp_path / "stack.tif")] + vs, "--subvolume"),
        "corrupt tiff": (["--image", str(tmp_path / "corrupt.tif")] + vs, "corrupt or truncated"),
        "truncated tiff": (["--image", str(tmp_path / "truncated.tif")] + vs, "corrupt or truncated"),
        "ambiguous h5": (["--image", str(tmp_path / "two.h5")] + vs, "name one"),
        "bad crop": (img + vs + ["--set", "crop=[[0,5],[0,5],[0,500]]"], "crop"),
        "no output": (img + vs, "missing config key 'output'"),
    }


def test_bad_inputs_exit_2_with_one_line_and_write_nothing(tmp_path):
    for case, (args, expected) in _bad_inputs(tmp_path).items():
        out = tmp_path / f"out-{case.replace(' ', '_')}.zarr"
        full = ["ingest", *args] + ([] if case == "no output" else ["--output", str(out)])
        result = run_cli(*full)
        assert result.code == 2, (case, result.stderr)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:"), (case, result.stderr)
        assert expected in lines[0] and "fix:" in lines[0], (case, lines[0])
        assert not out.exists(), case


def test_unreachable_storage_exit_2(tmp_path):
    from s3server import free_ports

    image, _ = _volume()
    tifffile.imwrite(tmp_path / "a.tif", image)
    env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_ports(1)[0]}", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"}
    result = run_cli("ingest", "--image", str(tmp_path / "a.tif"), "--voxel-size", "1", "1", "1",
                     "--output", "s3://bucket/out.zarr", env=env)
    assert result.code == 2 and "cannot reach object storage" in result.stderr


def test_ingest_to_s3(tmp_path, s3_server):
    image, labels = _volume()
    tifffile.imwrite(tmp_path / "a.tif", image)
    tifffile.imwrite(tmp_path / "l.tif", labels)
    url = f"s3://{s3_server.bucket}/{uuid.uuid4().hex}/exm.zarr"
    result = run_cli("ingest", "--image", str(tmp_path / "a.tif"), "--labels", str(tmp_path / "l.tif"),
                     "--voxel-size", "4", "2", "2", "--output", url, env=s3_server.env)
    assert result.code == 0, result.stderr
    local = tmp_path / "local.zarr"
    assert run_cli("ingest", "--image", str(tmp_path / "a.tif"), "--labels", str(tmp_path / "l.tif"),
                   "--voxel-size", "4", "2", "2", "--output", str(local)).code == 0
    for key, value in s3_server.env.items():
        os.environ[key] = value
    try:
        assert np.array_equal(ome.open_image(url).array[:], ome.open_image(str(local)).array[:])
        assert np.array_equal(ome.open_labels(url, "groundtruth").array[:], labels)
        assert commit.is_complete(url)
    finally:
        for key in s3_server.env:
            os.environ.pop(key)


@pytest.mark.parametrize("flag", ["--help"])
def test_help(flag):
    result = run_cli("ingest", flag)
    assert result.code == 0 and "--voxel-size" in result.stdout


def _ingest(tmp_path, image: list[str], *extra: str) -> np.ndarray:
    """The image written by an in-process ingest of ``image`` (file and flags) at 1 nm."""
    out = tmp_path / f"{uuid.uuid4().hex}.zarr"
    assert run_stage(ingest.main, ["--image", *image, "--voxel-size", "1", "1", "1", "--output", str(out), *extra]) == 0
    return ome.open_image(str(out)).array[:]


@pytest.mark.parametrize(("policy", "statistic"), [("fill-min", np.min), ("fill-median", np.median)])
def test_nan_policy_replaces_non_finite_voxels(tmp_path, policy, statistic):
    image = _volume()[0].astype(np.float32)
    image[2, 3, 4], image[5, 0, 0], image[9, 1, 1] = np.nan, -np.inf, np.inf
    finite = np.isfinite(image)
    tifffile.imwrite(tmp_path / "nan.tif", image)
    tifffile.imwrite(tmp_path / "filled.tif", np.where(finite, image, statistic(image[finite])))
    filled = _ingest(tmp_path, [str(tmp_path / "nan.tif")], "--set", f"nan_policy={policy}")
    assert np.array_equal(filled, _ingest(tmp_path, [str(tmp_path / "filled.tif")]))


def test_channel_picks_one_channel_of_rgb_and_channel_first_stacks(tmp_path):
    image, _ = _volume()
    channels = np.stack([image // 2, image, image // 3])
    tifffile.imwrite(tmp_path / "rgb.tif", np.moveaxis(channels, 0, -1), photometric="rgb")
    with h5py.File(tmp_path / "channels.h5", "w") as f:
        f["raw"] = channels
    tifffile.imwrite(tmp_path / "grey.tif", image)
    expected = _ingest(tmp_path, [str(tmp_path / "grey.tif")])
    assert np.array_equal(_ingest(tmp_path, [str(tmp_path / "rgb.tif"), "--channel", "1"]), expected)
    assert np.array_equal(_ingest(tmp_path, [f"{tmp_path / 'channels.h5'}:/raw", "--channel", "1"]), expected)
