"""Files derived from the stage specs (entry points, Dockerfiles, README stage table) are current; a changed spec
shows up in all of them."""

from __future__ import annotations

import dataclasses

from em2exm.specs import STAGES

from workflows import derived


def test_derived_files_are_up_to_date():
    for relative, text in derived.generated().items():
        assert (derived.REPO / relative).read_text() == text, f"{relative} is out of date: run `make generate`"
    assert {p.stem for p in (derived.REPO / "stages").glob("[a-z]*.py")} == {s.module for s in STAGES.values()}


def test_a_spec_decides_its_image_runtime_and_its_readme_row(monkeypatch):
    decode = STAGES["decode"]
    assert "em2exm-base-cpu" in derived.dockerfile(decode)
    on_gpu = dataclasses.replace(decode, resources=dataclasses.replace(decode.resources, gpu=1))
    assert "em2exm-base-gpu" in derived.dockerfile(on_gpu)
    monkeypatch.setitem(STAGES, "decode", on_gpu)
    row = next(line for line in derived.stage_table().splitlines() if line.startswith("| `decode`"))
    assert "| `--predictions` | under its input | `decode` | GPU, blockwise |" in row
