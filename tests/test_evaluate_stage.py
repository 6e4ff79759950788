"""evaluate stage: metrics.json / metrics.md from two label images, accumulated block by block, equal to
em2exm.metrics on the arrays; region option; shape mismatch exits 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli
from em2exm import commit, ome
from em2exm.metrics import THRESHOLDS, flat_dict, pair_counts, score
from em2exm.stagekit import run_stage

from stages import evaluate as stage

SMALL_BLOCKS = ["--set", "block=[7,16,20]"]
KEYS = ["ap", "voi", "voi_split", "voi_merge", "adapted_rand_skimage", "adapted_rand_snemi", "n_groundtruth",
        "n_segmentation", "region", "judge"]


def label_pair(seed: int = 0, shape: tuple[int, int, int] = (24, 40, 48)) -> tuple[np.ndarray, np.ndarray]:
    """Ground truth of boxes and a segmentation that splits, merges, shifts and misses some."""
    rng = np.random.default_rng(seed)
    gt = np.zeros(shape, np.uint32)
    for k in range(1, 31):
        z, y, x = rng.integers(0, shape)
        gt[z:z + rng.integers(3, 9), y:y + rng.integers(4, 12), x:x + rng.integers(4, 12)] = k * 7
    seg = np.roll(gt, 1, axis=2).astype(np.uint16)
    seg[seg == 14] = 21
    seg[(seg == 35) & (np.arange(shape[1])[None, :, None] % 2 == 0)] = 999
    seg[seg == 49] = 0
    return gt, seg


def write_pair(root: Path, gt: np.ndarray, seg: np.ndarray) -> tuple[str, str]:
    url = str(root / "vol.zarr")
    ome.create_image(url, gt.shape, np.uint8, (40, 16, 16))
    ome.create_labels(url, "groundtruth", gt.dtype)[:] = gt
    ome.create_labels(url, "instances", seg.dtype, chunks=(8, 8, 8))[:] = seg
    return f"{url}/labels/instances", f"{url}/labels/groundtruth"


def evaluate(seg: str, gt: str, out: Path, *flags: str) -> int:
    return run_stage(stage.main, ["--segmentation", seg, "--groundtruth", gt, "--output", str(out), *flags])


def metrics_of(out: Path) -> dict:
    return json.loads((out / "metrics.json").read_text())


def assert_scores_match(found: dict, gt: np.ndarray, seg: np.ndarray) -> None:
    expected = flat_dict(score(pair_counts(gt, seg)))
    assert set(expected) <= set(found)
    for key, value in expected.items():
        assert found[key] == pytest.approx(value, abs=1e-9), key


def test_blockwise_scores_equal_the_library(tmp_path: Path) -> None:
    gt, seg = label_pair()
    seg_url, gt_url = write_pair(tmp_path, gt, seg)
    out = tmp_path / "eval"
    assert evaluate(seg_url, gt_url, out, *SMALL_BLOCKS) == 0
    found = metrics_of(out)
    for t in THRESHOLDS:
        assert {f"{k}@{t:g}" for k in ("ap", "f1", "precision", "recall", "mean_iou")} <= set(found)
    assert set(KEYS) <= set(found) and "ap@0.5" in found and "mean_iou@0.95" in found
    assert_scores_match(found, gt, seg)
    assert 0 < found["f1@0.5"] < 1 and found["voi"] == pytest.approx(found["voi_split"] + found["voi_merge"])
    assert found["region"] == [[0, 24], [0, 40], [0, 48]] and found["judge"] is True
    assert (out / "metrics.md").read_text().startswith("| segmentation |")
    assert commit.is_complete(str(out))


def test_fanned_out_tasks_score_as_one_run(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """--plan-blocks, --blocks tasks, --finalise (as Argo and SLURM run it) write the whole run's metrics."""
    gt, seg = label_pair(2)
    seg_url, gt_url = write_pair(tmp_path, gt, seg)
    assert evaluate(seg_url, gt_url, tmp_path / "whole", *SMALL_BLOCKS) == 0
    fanned = tmp_path / "fanned"
    capsys.readouterr()
    assert evaluate(seg_url, gt_url, fanned, *SMALL_BLOCKS, "--plan-blocks", "20") == 0
    ranges = json.loads(capsys.readouterr().out)
    assert len(ranges) == 2  # 4 x 3 x 3 = 36 blocks of 7x16x20
    assert evaluate(seg_url, gt_url, fanned, *SMALL_BLOCKS, "--blocks", ranges[0]) == 0
    assert evaluate(seg_url, gt_url, fanned, *SMALL_BLOCKS, "--finalise") == 2  # blocks missing
    assert not (fanned / "metrics.json").exists()
    assert evaluate(seg_url, gt_url, fanned, *SMALL_BLOCKS, "--blocks", ranges[1]) == 0
    assert evaluate(seg_url, gt_url, fanned, *SMALL_BLOCKS, "--finalise") == 0
    whole, found = metrics_of(tmp_path / "whole"), metrics_of(fanned)
    assert found == whole and commit.is_complete(str(fanned))
    assert_scores_match(found, gt, seg)


def test_identical_inputs_score_perfectly(tmp_path: Path) -> None:
    gt, _ = label_pair(1)
    seg_url, gt_url = write_pair(tmp_path, gt, gt.copy())
    out = tmp_path / "eval"
    assert evaluate(seg_url, gt_url, out, *SMALL_BLOCKS, "--set", "judge=false") == 0
    found = metrics_of(out)
    assert all(found[f"{k}@{t:g}"] == 1.0 for k in ("ap", "f1", "precision", "recall", "mean_iou") for t in THRESHOLDS)
    assert found["ap"] == 1.0 and found["voi"] == 0.0 and found["judge"] is False
    assert found["adapted_rand_skimage"] == pytest.approx(0) and found["adapted_rand_snemi"] == pytest.approx(0)
    assert found["n_groundtruth"] == found["n_segmentation"] == np.unique(gt).size - 1


@pytest.mark.parametrize(("axis", "start", "box"), [("x", 0.5, np.s_[:, :, 24:]), ("z", 0.3, np.s_[7:, :, :])])
def test_region_scores_the_held_out_part(tmp_path: Path, axis: str, start: float, box: tuple) -> None:
    gt, seg = label_pair(2)
    seg_url, gt_url = write_pair(tmp_path, gt, seg)
    out = tmp_path / "eval"
    assert evaluate(seg_url, gt_url, out, *SMALL_BLOCKS, "--set", f"region_axis={axis}",
                    "--set", f"region_start={start}") == 0
    found = metrics_of(out)
    assert_scores_match(found, gt[box], seg[box])
    assert found["region"] == [[s.start or 0, s.stop or n] for s, n in zip(box, gt.shape)]


def test_small_ground_truth_is_ignored_everywhere(tmp_path: Path) -> None:
    """ignore_gt_smaller_than drops the voxels of small ground-truth instances from every score (whatever the
    segmentation has there) and says how many went; the rest scores as if those voxels were not in the volume."""
    gt, seg = label_pair(4)
    ids, sizes = np.unique(gt[gt > 0], return_counts=True)
    cut = int(np.median(sizes))
    small = np.isin(gt, ids[sizes < cut])
    seg_url, gt_url = write_pair(tmp_path, gt, seg)
    out = tmp_path / "eval"
    assert evaluate(seg_url, gt_url, out, *SMALL_BLOCKS, "--set", f"ignore_gt_smaller_than={cut}") == 0
    found = metrics_of(out)
    assert_scores_match(found, gt[~small], seg[~small])
    assert found["ignored_gt_instances"] == int((sizes < cut).sum()) > 0
    assert found["ignored_gt_voxels"] == int(small.sum())
    assert found["n_groundtruth"] == int((sizes >= cut).sum())


def test_thresholds_option_and_rerun(tmp_path: Path) -> None:
    gt, seg = label_pair(3)
    seg_url, gt_url = write_pair(tmp_path, gt, seg)
    out = tmp_path / "eval"
    assert evaluate(seg_url, gt_url, out, "--params", json.dumps({"thresholds": [0.75, 0.5]})) == 0
    found = metrics_of(out)
    assert "f1@0.75" in found and "f1@0.55" not in found
    first = commit.read_marker(str(out))["time"]
    same = ("--params", json.dumps({"thresholds": [0.75, 0.5]}))
    assert evaluate(seg_url, gt_url, out, *same) == 0 and commit.read_marker(str(out))["time"] == first
    assert evaluate(seg_url, gt_url, out) == 2 and commit.read_marker(str(out))["time"] == first
    assert evaluate(seg_url, gt_url, out, "--overwrite") == 0 and "f1@0.55" in metrics_of(out)


def test_shape_mismatch_exits_2_naming_both_shapes(tmp_path: Path) -> None:
    gt, seg = label_pair()
    seg_url, _ = write_pair(tmp_path / "a", gt, seg)
    _, gt_url = write_pair(tmp_path / "b", gt[:, :, :40], seg[:, :, :40])
    out = tmp_path / "eval"
    result = run_cli("evaluate", "--segmentation", seg_url, "--groundtruth", gt_url, "--output", str(out))
    assert result.code == 2
    assert "(24, 40, 48)" in result.stderr and "(24, 40, 40)" in result.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    ("flags", "problem"),
    [(["--set", "region_start=1.0"], "region_start"), (["--set", "thresholds=[0]"], "thresholds"),
     (["--set", "region_axis=t"], "region_axis")],
)
def test_bad_options_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture, flags: list[str], problem: str) -> None:
    gt, seg = label_pair()
    seg_url, gt_url = write_pair(tmp_path, gt, seg)
    assert evaluate(seg_url, gt_url, tmp_path / "eval", *flags) == 2
    assert problem in capsys.readouterr().err
    assert not (tmp_path / "eval").exists()


def test_ground_truth_without_instances_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    gt, seg = label_pair()
    seg_url, gt_url = write_pair(tmp_path, np.zeros_like(gt), seg)
    assert evaluate(seg_url, gt_url, tmp_path / "eval") == 2
    assert "no instances" in capsys.readouterr().err
    assert not (tmp_path / "eval").exists()


def test_image_instead_of_labels_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    gt, seg = label_pair()
    seg_url, gt_url = write_pair(tmp_path, gt, seg)
    image = str(tmp_path / "maps.zarr")
    ome.create_image(image, (2, *gt.shape), np.uint8, (40, 16, 16), axes="czyx")
    assert evaluate(image, gt_url, tmp_path / "eval") == 2
    assert "not (Z, Y, X) ids" in capsys.readouterr().err
