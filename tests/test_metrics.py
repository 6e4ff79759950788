"""em2exm.metrics: scikit-image's ARE and VOI to 1e-9, PyTC's numbers on the fixtures, blockwise
accumulation equal to the whole volume, and exact matching counts on a hand-made case."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from em2exm.errors import UserError
from em2exm.metrics import (
    Contingency,
    ScoreAccumulator,
    adapted_rand_skimage,
    adapted_rand_snemi,
    markdown_table,
    match_instances,
    pair_counts,
    score,
    voi,
)
from skimage.metrics import adapted_rand_error, variation_of_information

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "pytc_v1_decode"
META = json.loads((FIXTURES / "meta.json").read_text()) if (FIXTURES / "meta.json").exists() else {}
needs_fixtures = pytest.mark.skipif(not META, reason=f"PyTC decode fixtures not found at {FIXTURES}")


def random_pair(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Ground truth and a noisy segmentation of it with zeros, splits and merges."""
    rng = np.random.default_rng(seed)
    gt = rng.integers(0, 12, (9, 21, 17)).astype(np.uint32)
    gt[:, :5] = 0
    seg = (gt.astype(np.int64) * 3 + rng.integers(0, 2, gt.shape)) % 17
    seg[rng.random(gt.shape) < 0.1] = 0
    return gt, seg.astype(np.uint64)


@pytest.mark.parametrize("seed", range(6))
def test_adapted_rand_and_voi_match_scikit_image(seed: int) -> None:
    gt, seg = random_pair(seed)
    table = pair_counts(gt, seg)
    np.testing.assert_allclose(adapted_rand_skimage(table), adapted_rand_error(gt, seg), rtol=0, atol=1e-9)
    np.testing.assert_allclose(voi(table), variation_of_information(gt, seg), rtol=0, atol=1e-9)
    np.testing.assert_allclose(voi(table, ignore_gt=(0,)), variation_of_information(gt, seg, ignore_labels=(0,)),
                               rtol=0, atol=1e-9)


def test_scores_do_not_depend_on_id_values() -> None:
    gt, seg = random_pair(4)
    _, dense = np.unique(seg, return_inverse=True)
    huge = np.where(seg == 0, 0, seg * np.uint64(2**40) + np.uint64(12345))
    assert score(pair_counts(gt, huge)) == score(pair_counts(gt, dense.reshape(seg.shape)))


def test_snemi_rand_on_a_hand_made_case() -> None:
    # gt: object 1 (4 voxels), background (2); seg: 1 splits gt 1 into 2+2, seg 0 on one bg voxel
    gt = np.array([1, 1, 1, 1, 0, 0])
    seg = np.array([1, 1, 2, 2, 0, 2])
    are, precision, recall = adapted_rand_snemi(pair_counts(gt, seg))
    # a = [4]; b = [2, 2]; c = 0: sumA = 16, sumB = 8, sumAB = 8
    assert precision == pytest.approx(1.0) and recall == pytest.approx(0.5)
    assert are == pytest.approx(1 - 2 * 0.5 / 1.5)


def test_blockwise_accumulation_equals_whole_volume() -> None:
    gt, seg = random_pair(11)
    whole = score(pair_counts(gt, seg))
    acc = ScoreAccumulator()
    for z in (slice(0, 4), slice(4, 9)):
        for y in (slice(0, 7), slice(7, 21)):
            acc.add(gt[z, y], seg[z, y])
    assert acc.result() == whole
    parts = Contingency()
    for x in range(gt.shape[2]):
        parts.add(gt[..., x], seg[..., x])
    table, expected = parts.table(), pair_counts(gt, seg)
    for field in ("gt", "seg", "counts"):
        np.testing.assert_array_equal(getattr(table, field), getattr(expected, field))


def test_matching_counts_on_a_hand_made_case() -> None:
    gt = np.zeros((1, 10, 40), np.uint8)
    seg = np.zeros_like(gt)
    gt[0, :, 0:10] = 1
    seg[0, :, 0:10] = 7                       # exact: IoU 1
    gt[0, :, 10:20] = 2
    seg[0, :, 12:20] = 8                      # IoU 0.8
    gt[0, :, 20:30] = 3
    seg[0, :, 20:25], seg[0, :, 25:30] = 9, 10  # split in halves: IoU 0.5 each, one match
    gt[0, :, 30:34] = 4                       # missed
    seg[0, :, 35:40] = 11                     # false positive
    by_t = {m.threshold: m for m in match_instances(pair_counts(gt, seg))}
    assert (by_t[0.5].tp, by_t[0.5].fp, by_t[0.5].fn) == (3, 2, 1)
    assert (by_t[0.75].tp, by_t[0.75].fp, by_t[0.75].fn) == (2, 3, 2)
    assert (by_t[0.85].tp, by_t[0.95].tp) == (1, 1)
    assert by_t[0.5].f1 == pytest.approx(6 / 9) and by_t[0.5].precision == pytest.approx(3 / 5)
    assert by_t[0.5].recall == pytest.approx(3 / 4) and by_t[0.5].ap == pytest.approx(3 / 6)
    assert by_t[0.5].mean_iou == pytest.approx((1 + 0.8 + 0.5) / 3)
    assert by_t[0.75].mean_iou == pytest.approx(0.9)


def test_markdown_table_has_one_row_per_segmentation() -> None:
    gt, seg = random_pair(1)
    text = markdown_table({"noisy": score(pair_counts(gt, seg)), "perfect": score(pair_counts(gt, gt))})
    lines = text.strip().splitlines()
    assert len(lines) == 4 and lines[1].startswith("|---")
    assert lines[3].startswith("| perfect | 11 (11) | 0.000 | 0.000 | 0.000 | 0.000 | 1.000 | 1.000 | 1.000 | 1.000 |")


def test_mismatched_shapes_raise_user_error() -> None:
    with pytest.raises(UserError, match="shape"):
        pair_counts(np.zeros((2, 3), int), np.zeros((3, 2), int))
    with pytest.raises(UserError, match="integer"):
        pair_counts(np.zeros(3, float), np.zeros(3, int))


def baseline_rows() -> dict[str, list[str]]:
    """Per case (e.g. 'A_mild'), the cells of BASELINE_pytc_v1_cpu.md's score table."""
    rows = {}
    for line in (FIXTURES / "BASELINE_pytc_v1_cpu.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 14 and re.fullmatch(r"[A-I]", cells[0]):
            rows[f"{cells[0]}_{cells[2]}"] = cells
    return rows


@needs_fixtures
def test_scores_of_pytc_outputs_reproduce_the_baseline_table() -> None:
    rows = baseline_rows()
    with np.load(FIXTURES / "gt.npz") as f:
        gt = f["labels"]
    for case in ("A_clean", "C_clean", "H_clean", "A_mild", "C_mild", "D_mild", "E_mild", "I_mild"):
        with np.load(FIXTURES / f"ref_{case}.npz") as f:
            s = score(pair_counts(gt, f["seg"]))
        ours = [s.n_seg, s.are_skimage, s.are_snemi, s.voi_split, s.voi_merge,
                s.at(0.5).f1, s.at(0.75).f1, s.at(0.5).mean_iou]
        expected = [float(rows[case][k]) for k in (5, 6, 7, 8, 9, 11, 12, 13)]
        np.testing.assert_allclose(ours, expected, rtol=0, atol=5.01e-4, err_msg=case)
