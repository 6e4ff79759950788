"""A demo-sized run in every state a step can be in, made in seconds by em2exm itself, with no training.

The demo config with three experiments (raw, oracle, intensity) and decode blocks of 16 x 64 x 64 (8 per volume):
`em2exm run` ingests the EM and ExM volumes (recording the run) and fails on evaluate-intensity, whose instances do
not exist yet; each experiment's maps are drawn from the ExM ground truth and committed as seg-infer's (the
oracle's with every contour, raw's without those between z-slices, so raw scores lower); decode and evaluate then
run for real on raw and oracle; decode-intensity is killed after its first block; visualize writes the report.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from conftest import DEMO_DATA, REPO, run_cli
from em2exm import ome, outputs
from em2exm.config import load_pipeline
from em2exm.layout import RunLayout
from em2exm.pipeline import Pipeline, build_pipeline
from em2exm.stagekit import run_stage
from scipy import ndimage

from stages import decode, evaluate, visualize

EXPERIMENTS = "[raw, oracle, intensity]"
CHANNELS = ["foreground", "contour"]
STATES = {"ingest-em": "done", "ingest-exm": "done", "seg-infer-raw": "done", "decode-raw": "done",
          "evaluate-raw": "done", "seg-infer-oracle": "done", "decode-oracle": "done", "evaluate-oracle": "done",
          "seg-infer-intensity": "done", "decode-intensity": "partial", "evaluate-intensity": "failed",
          "visualize": "done"}
"""The state of every step that is not 'not started'."""


@dataclass(frozen=True)
class FakeRun:
    config: Path
    store: Path
    pipeline: Pipeline


def write_config(folder: Path, store: Path) -> Path:
    """The demo config (without a run name) writing to ``store``, three experiments, decode in 8 blocks."""
    text = (REPO / "configs" / "demo.yaml").read_text()
    for old, new in (("../data/demo", str(DEMO_DATA)), ("../runs/demo", str(store)), ("  name: demo\n", ""),
                     ("names: [raw, ccgan, segmatch, oracle, intensity, seghead]", f"names: {EXPERIMENTS}"),
                     ("decode:\n  block: [32, 128, 128]", "decode:\n  block: [16, 64, 64]")):
        assert old in text, old
        text = text.replace(old, new)
    path = folder / "fake-demo.yaml"
    path.write_text(text)
    return path


def drawn_maps(groundtruth: np.ndarray, contour_axes: tuple[int, ...]) -> np.ndarray:
    """uint8 foreground and contour maps of an instance volume: contours where the id changes along
    ``contour_axes``, widened by one voxel (as a trained U-Net's are)."""
    contour = np.zeros(groundtruth.shape, bool)
    for axis in contour_axes:
        step = np.diff(groundtruth, axis=axis) != 0
        before, after = [slice(None)] * 3, [slice(None)] * 3
        before[axis], after[axis] = slice(0, -1), slice(1, None)
        contour[tuple(before)] |= step
        contour[tuple(after)] |= step
    contour = ndimage.binary_dilation(contour)
    return (np.stack([groundtruth > 0, contour]) * 255).astype(np.uint8)


def commit_maps(url: str, exm: str, maps: np.ndarray) -> None:
    """Write ``maps`` as a committed seg-infer output at ``url``."""
    voxel_size = ome.open_image(exm).voxel_size
    with outputs.claim(url, stage="seg-infer", options={"drawn_from": "groundtruth"}, inputs={"image": exm},
                       products=("zarr.json", "0"), redo="never") as output:
        provenance = {"stage": "seg-infer", "channels": CHANNELS}
        ome.create_image(url, maps.shape, np.uint8, voxel_size, axes="czyx", provenance=provenance)[:] = maps
        output.commit({"blocks": 1, "channels": CHANNELS})


def make_fake_run(folder: Path) -> FakeRun:
    """Build the run described in this module's docstring under ``folder``."""
    store = folder / "store"
    config = write_config(folder, store)
    failed = run_cli("run", str(config), "--only", "ingest-em", "--only", "ingest-exm", "--only", "evaluate-intensity")
    assert failed.code == 2 and "evaluate-intensity failed" in failed.stderr, failed.stderr[-2000:]
    pipeline = build_pipeline(load_pipeline(str(config)))
    at = RunLayout(str(store))
    groundtruth = ome.open_labels(at.exm, "groundtruth").array[:]
    for experiment, axes in (("oracle", (0, 1, 2)), ("raw", (1, 2)), ("intensity", (0, 1, 2))):
        commit_maps(at.predictions(experiment), at.exm, drawn_maps(groundtruth, axes))
    for step in ("decode-oracle", "evaluate-oracle", "decode-raw", "evaluate-raw"):
        stage = decode if step.startswith("decode") else evaluate
        assert run_stage(stage.main, list(pipeline.step(step).args)) == 0, step
    killed = run_cli("decode", *pipeline.step("decode-intensity").args,
                     env={"EM2EXM_FAULT": "blockwise.block-written:2:kill"})
    assert killed.code == -9, killed.stderr[-2000:]
    assert run_stage(visualize.main, list(pipeline.step("visualize").args)) == 0
    return FakeRun(config, store, pipeline)


_BUILT: dict[str, FakeRun] = {}
"""The session's fake run: each test module that imports the fixture registers its own, all share one build."""


@pytest.fixture(scope="session", name="fake_run")
def fake_run_fixture(tmp_path_factory: pytest.TempPathFactory) -> FakeRun:
    """The fake run, shared by the session: copy it (:func:`copy_run`) before changing it."""
    if "run" not in _BUILT:
        _BUILT["run"] = make_fake_run(tmp_path_factory.mktemp("fake-run"))
    return _BUILT["run"]


def copy_run(run: FakeRun, destination: Path) -> Path:
    """A copy of the run's store at ``destination`` (its records name the original store; status reads the copy)."""
    shutil.copytree(run.store, destination)
    return destination
