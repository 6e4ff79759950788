"""Storage layer: OME-Zarr round trips on local disk, memory:// and a real S3 server; completion markers."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
from em2exm import commit, ome, storage
from em2exm.errors import UserError


def _roundtrip(url: str) -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (20, 30, 40), dtype=np.uint8)
    labels = rng.integers(0, 2**31, (20, 30, 40), dtype=np.uint32)
    array = ome.create_image(url, image.shape, np.uint8, (40.0, 8.0, 8.0), chunks=(8, 16, 16), provenance={"stage": "t"})
    array[:] = image
    ome.create_labels(url, "cells", np.uint32)[:] = labels
    volume = ome.open_image(url)
    assert np.array_equal(volume.array[:], image)
    assert volume.voxel_size == (40.0, 8.0, 8.0)
    assert volume.axes == ("z", "y", "x")
    assert volume.attrs["stage"] == "t"
    assert volume.array.chunks == (8, 16, 16)
    assert ome.list_labels(url) == ["cells"]
    assert np.array_equal(ome.open_labels(url, "cells").array[:], labels)
    assert not commit.is_complete(url)
    commit.mark_complete(url, {"stage": "t"})
    assert commit.is_complete(url) and commit.read_marker(url)["stage"] == "t"
    storage.remove(commit.marker_url(url))
    assert not commit.is_complete(url)


def test_roundtrip_local(tmp_path):
    _roundtrip(str(tmp_path / "v.zarr"))


def test_roundtrip_file_url(tmp_path):
    _roundtrip(f"file://{tmp_path}/v.zarr")


def test_roundtrip_memory():
    _roundtrip(f"memory://{uuid.uuid4().hex}/v.zarr")


def test_roundtrip_s3(s3_env):
    _roundtrip(f"s3://{s3_env.bucket}/{uuid.uuid4().hex}/v.zarr")


def test_channel_axis_volume(tmp_path):
    url = str(tmp_path / "maps.zarr")
    array = ome.create_image(url, (3, 8, 16, 16), np.uint8, (1, 2, 2), axes=("c", "z", "y", "x"))
    assert array.chunks[0] == 1
    volume = ome.open_image(url)
    assert volume.axes == ("c", "z", "y", "x") and volume.spatial_shape == (8, 16, 16)


def test_ngff_metadata_is_readable_by_ome_zarr_py(tmp_path):
    """The reader napari uses finds the image, its scale and the label image."""
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    url = str(tmp_path / "v.zarr")
    ome.create_image(url, (4, 8, 8), np.uint8, (30.0, 5.0, 5.0))[:] = 1
    ome.create_labels(url, "gt")[:] = 2
    nodes = list(Reader(parse_url(url))())
    scales = [n.metadata["coordinateTransformations"][0][0]["scale"] for n in nodes if n.data]
    assert scales == [[30.0, 5.0, 5.0], [30.0, 5.0, 5.0]]
    assert [n.metadata.get("name") for n in nodes if n.data] == ["image", "gt"]


def test_block_markers(tmp_path):
    url = str(tmp_path / "out.zarr")
    commit.mark_block_done(url, 3, {"max_id": 7})
    commit.mark_block_done(url, 11)
    assert commit.done_blocks(url) == {3, 11}
    assert commit.block_done(url, 3) and not commit.block_done(url, 4)
    assert commit.read_block_info(url, 3) == {"max_id": 7}
    storage.remove(storage.join(url, commit.BLOCK_MARKERS))
    assert commit.done_blocks(url) == set()


def test_open_missing_volume_is_user_error(tmp_path):
    with pytest.raises(UserError, match="no OME-Zarr image"):
        ome.open_image(str(tmp_path / "missing.zarr"))


def test_unreachable_s3_is_user_error(monkeypatch):
    from s3server import free_ports

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_ports(1)[0]}")
    with pytest.raises(UserError, match="cannot reach object storage"):
        storage.check_reachable("s3://bucket/x.zarr")


def test_missing_bucket_is_user_error(s3_env):
    with pytest.raises(UserError, match="does not exist"):
        storage.check_reachable("s3://no-such-bucket-here/x.zarr")


def test_bad_geometry_rejected(tmp_path):
    with pytest.raises(UserError, match="voxel size"):
        ome.create_image(str(tmp_path / "v.zarr"), (2, 2, 2), np.uint8, (0, 1, 1))
    with pytest.raises(UserError, match="axes"):
        ome.create_image(str(tmp_path / "v.zarr"), (2, 2), np.uint8, (1, 1, 1))
