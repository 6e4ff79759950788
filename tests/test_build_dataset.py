"""build-dataset: train/val split of image + labels as OME-Zarr or PyTC-style h5."""

from __future__ import annotations

import h5py
import numpy as np
from conftest import run_cli
from em2exm import commit, ome


def _ingested(demo_config, tmp_path):
    assert run_cli("run", str(demo_config), "--only", "ingest-em").code == 0
    return tmp_path / "store" / "em.zarr"


def test_split_covers_the_volume(demo_config, tmp_path):
    em = _ingested(demo_config, tmp_path)
    out = tmp_path / "ds"
    result = run_cli("build-dataset", "--image", str(em), "--labels", f"{em}/labels/groundtruth", "--output", str(out),
                     "--set", "val_fraction=0.25", "--set", "split_axis=x")
    assert result.code == 0, result.stderr
    image, labels = ome.open_image(str(em)).array[:], ome.open_labels(str(em), "groundtruth").array[:]
    train, val = ome.open_image(str(out / "train.zarr")), ome.open_image(str(out / "val.zarr"))
    assert np.array_equal(np.concatenate([train.array[:], val.array[:]], axis=2), image)
    val_labels = ome.open_labels(str(out / "val.zarr"), "groundtruth").array[:]
    assert np.array_equal(val_labels, labels[:, :, -val_labels.shape[2]:])
    assert val.shape[2] == round(image.shape[2] * 0.25)
    assert commit.is_complete(str(out))


def test_h5_export(demo_config, tmp_path):
    em = _ingested(demo_config, tmp_path)
    out = tmp_path / "h5"
    assert run_cli("build-dataset", "--image", str(em), "--labels", f"{em}/labels/groundtruth", "--output", str(out),
                   "--format", "h5").code == 0
    with h5py.File(out / "train_im.h5") as im, h5py.File(out / "train_label.h5") as lab:
        assert im["main"].shape == lab["main"].shape and im["main"].dtype == np.uint8


def test_shape_mismatch_exit_2(demo_config, tmp_path):
    assert run_cli("run", str(demo_config), "--only", "ingest-em", "--only", "ingest-exm").code == 0
    store = tmp_path / "store"
    result = run_cli("build-dataset", "--image", str(store / "em.zarr"), "--labels",
                     str(store / "exm.zarr" / "labels" / "groundtruth"), "--output", str(tmp_path / "ds"))
    assert result.code == 2 and "differ in shape" in result.stderr
    assert not (tmp_path / "ds").exists()
