"""Config: strict validation naming unknown keys, --set overrides with YAML types, relative paths."""

from __future__ import annotations

import pytest
from em2exm import storage
from em2exm.config import (
    IngestOptions,
    VolumeSource,
    apply_sets,
    load_pipeline,
    read_yaml,
    section_from_sources,
    validate,
)
from em2exm.errors import UserError


def test_unknown_key_is_named(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("inputs:\n  em: {image: a.tif, voxel_size: [1,1,1]}\n  exm: {image: b.tif, voxel_size: [1,1,1]}\ningest:\n  histeqq: true\n")
    with pytest.raises(UserError, match=r"unknown config key 'ingest.histeqq'.*histeq"):
        load_pipeline(str(path))


def test_set_overrides_with_yaml_types(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("inputs:\n  em: {image: a.tif, voxel_size: [1,1,1]}\n  exm: {image: /abs/b.tif, voxel_size: [4,2,2]}\n")
    config = load_pipeline(str(path), ["ingest.histeq=true", "ingest.clip_percentiles=[1, 99]", "inputs.exm.expansion_factor=4"])
    assert config.ingest.histeq is True
    assert config.ingest.clip_percentiles == (1.0, 99.0)
    assert config.inputs.exm.expansion_factor == 4.0
    assert config.inputs.em.image == str(tmp_path / "a.tif")
    assert config.inputs.exm.image == "/abs/b.tif"


def test_bad_value_and_missing_key():
    with pytest.raises(UserError, match="clip_percentiles"):
        validate(IngestOptions, {"clip_percentiles": [90, 10]}, "test")
    with pytest.raises(UserError, match="missing config key 'inputs'"):
        from em2exm.pipeline_config import PipelineConfig

        validate(PipelineConfig, {}, "test")


def test_section_sources_precedence(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("ingest:\n  histeq: true\n  invert: true\n")
    data = section_from_sources("ingest", str(path), '{"invert": false, "chunks": [8,8,8]}', ["ingest.chunks=[4,4,4]"])
    assert data == {"histeq": True, "invert": False, "chunks": [4, 4, 4]}


def test_set_needs_equals():
    with pytest.raises(UserError, match="no '='"):
        apply_sets({}, ["ingest.histeq"])


@pytest.mark.parametrize("voxel", [[0, 1, 1], [-40, 16, 16], [1, float("inf"), 1]])
def test_voxel_sizes_must_be_finite_and_positive(voxel):
    with pytest.raises(UserError, match=r"'voxel_size'.*> 0"):
        validate(VolumeSource, {"image": "a.tif", "voxel_size": voxel}, "test")


def test_expansion_factor_must_be_positive():
    with pytest.raises(UserError, match="'expansion_factor'.*greater than 0"):
        validate(VolumeSource, {"image": "a.tif", "voxel_size": [1, 1, 1], "expansion_factor": 0}, "test")


def test_unreadable_config_files_are_user_errors(tmp_path):
    (tmp_path / "binary.yaml").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    (tmp_path / "scalar.yaml").write_text("ingest: 5\n")
    for path, problem in {tmp_path: "is a folder", tmp_path / "binary.yaml": "is not text"}.items():
        with pytest.raises(UserError, match=problem):
            read_yaml(str(path))
    with pytest.raises(UserError, match="section 'ingest' of .* is not a mapping but 5"):
        section_from_sources("ingest", str(tmp_path / "scalar.yaml"), None, [])


@pytest.mark.parametrize(
    ("url", "problem"),
    [("s3:///out.zarr", "names no bucket"), ("gs://", "names no bucket"), ("s4://b/o.zarr", "unknown storage protocol")],
)
def test_urls_without_bucket_or_known_protocol_are_refused(url, problem):
    with pytest.raises(UserError, match=problem):
        storage.check_url(url)


@pytest.mark.parametrize("url", ["s3://bucket/out.zarr", "memory://out.zarr", "/abs/out.zarr", "rel/out.zarr", "file:///x"])
def test_good_urls_pass(url):
    storage.check_url(url)
