"""Config: strict validation naming unknown keys, --set overrides with YAML types, relative paths."""

from __future__ import annotations

import pytest
from em2exm.config import IngestOptions, apply_sets, load_pipeline, section_from_sources, validate
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
