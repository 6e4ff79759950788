"""em2exm tune-decode on a demo-sized run: the real ovule ExM volume and labels, BC maps made from those labels with
blur and noise, decoded and evaluated by the real stages; the tuned section pasted into decode reproduces its score."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import tifffile
import yaml
from conftest import DEMO_DATA, REPO
from em2exm import ome
from em2exm.cli import main as em2exm_main
from em2exm.layout import RunLayout
from em2exm.stagekit import run_stage
from em2exm.tune.cli import main as tune_main
from em2exm.tune.options import TuneDecodeParams
from scipy import ndimage

from stages import decode, evaluate, ingest

SMALL = ["--set", "values={thres1: [0.6, 0.9], thres2: [0.1, 0.3], thres3: [0.3, 0.6], thres_small: [32, 64]}"]
"""Two values per parameter (besides the start): a search of a few dozen candidates at most."""
DECODED = {"thres2": 0.6, "thres_small": 64, "block": [32, 64, 64]}
"""The run's decode options: the baseline tune-decode starts from."""


def bc_maps(labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """Foreground and contour maps a briefly trained U-Net might draw: blurred (faint contours), noisy, uint8."""
    rng = np.random.default_rng(seed)
    contour = np.zeros(labels.shape, bool)
    for axis in range(3):
        step = np.diff(labels, axis=axis) != 0
        contour[tuple(slice(0, -1) if a == axis else slice(None) for a in range(3))] |= step
        contour[tuple(slice(1, None) if a == axis else slice(None) for a in range(3))] |= step
    maps = []
    for target in (labels > 0, contour):
        blurred = ndimage.gaussian_filter(target.astype(np.float32), (0.7, 1.5, 1.5))
        maps.append(np.clip(blurred + rng.normal(0, 0.1, labels.shape), 0, 1))
    return (np.stack(maps) * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> RunLayout:
    """A demo-sized run: the ingested ovule ExM volume, the oracle's maps, decoded and evaluated on the second half."""
    at = RunLayout(str(tmp_path_factory.mktemp("run")))
    source = DEMO_DATA / "plantseg_ovule"
    assert run_stage(ingest.main, ["--image", str(source / "raw.tif"), "--labels", str(source / "labels.tif"),
                                   "--voxel-size", "235", "150", "150", "--expansion-factor", "16",
                                   "--output", at.exm]) == 0
    exm = ome.open_image(at.exm)
    labels = np.asarray(ome.open_labels(at.exm, "groundtruth").array[...])
    predictions = at.predictions("oracle")
    provenance = {"stage": "seg-infer", "channels": ["foreground", "contour"]}
    ome.create_image(predictions, (2, *labels.shape), np.uint8, exm.voxel_size, axes=("c", "z", "y", "x"),
                     provenance=provenance)[...] = bc_maps(labels)
    assert run_stage(decode.main, ["--predictions", predictions, "--params", json.dumps(DECODED)]) == 0
    region = {"region_start": 0.5, "ignore_gt_smaller_than": 64}
    assert run_stage(evaluate.main, ["--segmentation", at.instances("oracle"), "--groundtruth", at.labels(at.exm),
                                     "--output", at.evaluation("oracle"), "--params", json.dumps(region)]) == 0
    return at


def tune(*args: str) -> int:
    return run_stage(tune_main, list(args))


def test_tuned_thresholds_beat_the_runs_and_paste_into_decode(run: RunLayout, tmp_path: Path) -> None:
    out = tmp_path / "tuned"
    assert tune("--run", run.store, "--experiment", "oracle", "--metric", "voi", "--output", str(out), *SMALL) == 0
    result = json.loads((out / "result.json").read_text())
    evaluated = json.loads(Path(run.metrics("oracle")).read_text())
    baseline, best = result["baseline"], result["best"]
    assert result["crop"] == "0:32,0:128,64:128" and result["ignore_gt_smaller_than"] == 64, "the run's evaluation"
    assert baseline["params"] == {"thres1": 0.9, "thres2": 0.6, "thres3": 0.85, "thres_small": 64}, "as decoded"
    for key, found in (("voi", "voi"), ("adapted_rand_skimage", "rand"), ("ap@0.5", "ap50")):
        assert baseline["scores"][found] == pytest.approx(evaluated[key], abs=1e-9), "the run's own scores"
    assert best["scores"]["voi"] < baseline["scores"]["voi"] - 1 and best["params"]["thres2"] == 0.1
    section = yaml.safe_load((out / "best.yaml").read_text())["decode"]
    assert section["mode"] == "bc_watershed" and section["block"] == [32, 64, 64]
    assert run_stage(decode.main, ["--predictions", run.predictions("oracle"), "--name", "tuned",
                                   "--params", json.dumps(section)]) == 0
    rescored = tmp_path / "rescored"
    region = {"region_start": 0.5, "ignore_gt_smaller_than": 64}
    assert run_stage(evaluate.main, ["--segmentation", run.labels(run.predictions("oracle"), "tuned"),
                                     "--groundtruth", run.labels(run.exm), "--output", str(rescored),
                                     "--params", json.dumps(region)]) == 0
    assert json.loads((rescored / "metrics.json").read_text())["voi"] == pytest.approx(best["scores"]["voi"], abs=1e-9)
    rows = (out / "search.csv").read_text().splitlines()
    assert len(rows) == result["candidates"] + 1 and rows[0].startswith("candidate,phase,mode,thres1")
    assert (out / "search.png").read_bytes()[:4] == b"\x89PNG" and "| best |" in (out / "search.md").read_text()
    assert result["seconds_per_candidate"] < 3


def test_grid_by_ap_on_a_crop_with_a_holdout_and_labels_of_the_crop_alone(run: RunLayout, tmp_path: Path) -> None:
    labels = np.asarray(ome.open_labels(run.exm, "groundtruth").array[:, :, 64:96])
    tifffile.imwrite(tmp_path / "crop.tif", labels)
    out = tmp_path / "grid"
    values = "values={thres2: [0.2, 0.4, 0.6], thres_small: [32, 64]}"
    assert tune("--predictions", run.predictions("oracle"), "--labels", str(tmp_path / "crop.tif"),
                "--crop", "0:32,0:128,64:96", "--metric", "ap50", "--search", "grid", "--set", "vary=[thres2, thres_small]",
                "--set", values, "--output", str(out)) == 0
    result = json.loads((out / "result.json").read_text())
    assert result["candidates"] == 3 * 2 and result["search"] == "grid", "the baseline is one of the grid's points"
    assert result["best"]["scores"]["ap50"] > result["baseline"]["scores"]["ap50"]
    assert result["ignore_gt_smaller_than"] == 0, "no run: every object scored"
    held = tmp_path / "held"
    assert tune("--run", run.store, "--crop", "0:32,0:128,64:96", "--holdout", "0:32,0:128,96:", "--output", str(held),
                *SMALL) == 0
    result = json.loads((held / "result.json").read_text())
    assert set(result["baseline"]["holdout"]) == set(result["best"]["holdout"]) >= {"voi", "rand", "ap50"}
    assert result["holdout"] == "0:32,0:128,96:128" and "held-out box" in (held / "search.md").read_text()


def test_a_rerun_is_a_no_op_and_a_users_folder_is_refused(run: RunLayout, tmp_path: Path, capfd) -> None:
    out = tmp_path / "tuned"
    args = ("--run", run.store, "--output", str(out), "--set", "vary=[thres2]", "--set", "values={thres2: [0.3]}")
    assert tune(*args) == 0
    marker = (out / ".em2exm_complete.json").read_text()
    assert tune(*args) == 0 and (out / ".em2exm_complete.json").read_text() == marker
    assert tune(*args, "--metric", "rand") == 2 and "made differently" in capfd.readouterr().err
    users = tmp_path / "users"
    users.mkdir()
    (users / "notes.txt").write_text("mine")
    assert tune(*args[:2], "--output", str(users)) == 2
    assert "did not write" in capfd.readouterr().err and sorted(p.name for p in users.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize(("args", "expect"), [
    (("--experiment", "raw"), "no OME-Zarr image"),
    (("--crop", "0:32,0:128"), "is not three ranges"),
    (("--crop", "0:32,0:128,100:300"), "outside the volume"),
    (("--metric", "f1"), "'metric'"),
    (("--set", "vary=[thres4]"), "bc_watershed has no thres4"),
    (("--set", "values={thres1: [1.5]}"), "thres1=1.5 is outside [0.0, 1.0]"),
    (("--search", "grid", "--set", "max_candidates=100"), "more than max_candidates 100"),
    (("--set", "values={thres9: [1]}"), "only thres1, thres2"),
])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(run: RunLayout, tmp_path: Path, capfd, args, expect) -> None:
    out = tmp_path / "out"
    code = tune("--run", run.store, "--output", str(out), *args)
    errors = [line for line in capfd.readouterr().err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(errors) == 1 and expect in errors[0] and " -- fix: " in errors[0], errors
    assert not out.exists()


def test_labels_of_another_shape_and_missing_sources_are_refused(run: RunLayout, tmp_path: Path, capfd) -> None:
    tifffile.imwrite(tmp_path / "odd.tif", np.ones((8, 8, 8), np.uint16))
    assert tune("--run", run.store, "--labels", str(tmp_path / "odd.tif"), "--output", str(tmp_path / "o")) == 2
    assert "neither the predictions' (32, 128, 128) nor the crop's" in capfd.readouterr().err
    assert tune("--output", str(tmp_path / "o")) == 2 and "needs predictions" in capfd.readouterr().err


def test_help_lists_every_option_with_default_and_meaning(capsys) -> None:
    with pytest.raises(SystemExit):
        em2exm_main(["tune-decode", "--help"])
    text = capsys.readouterr().out
    missing = [key for key in TuneDecodeParams.model_fields
               if not re.search(rf"^  {re.escape(key)} \(default .*?\): \S", text, re.MULTILINE)]
    assert not missing, missing
    readme = (REPO / "README.md").read_text()
    assert "em2exm tune-decode" in readme and "best.yaml" in readme
