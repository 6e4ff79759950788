"""Targets B, C, D against hand-made arrays and a brute-force port of PyTC v1.0's definitions."""

from __future__ import annotations

import numpy as np
import pytest
from em2exm.seg.targets import foreground, instance_contour, instance_distance, signed_distance
from scipy import ndimage
from scipy.signal import convolve2d
from skimage.measure import label as sk_label
from skimage.morphology import dilation, remove_small_holes


def two_cubes() -> np.ndarray:
    lab = np.zeros((6, 8, 12), np.uint16)
    lab[1:5, 2:6, 1:6] = 7
    lab[1:5, 2:6, 6:11] = 9
    return lab


def blobs(seed: int, shape=(6, 24, 24), n: int = 6) -> np.ndarray:
    """Voronoi instances with background speckles and small islands, so small holes exist."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 1, (n, 3)) * shape
    grid = np.stack(np.meshgrid(*[np.arange(s) for s in shape], indexing="ij"), -1)
    lab = (np.argmin(((grid[..., None, :] - centres) ** 2).sum(-1), -1) + 1).astype(np.uint16)
    lab[rng.random(shape) < 0.04] = 0
    lab[rng.random(shape) < 0.02] = n + 1
    return lab


# --- brute force, one instance at a time (PyTC seg_to_instance_bd / distance_transform / edt_semantic) ---


def ref_contour(lab: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros(lab.shape, np.float32)
    for z in range(lab.shape[0]):
        s = lab[z].astype(np.int64)
        ex = convolve2d(s, np.array([[1], [0], [-1]]), "same", boundary="symm")
        ey = convolve2d(s, np.array([[1, 0, -1]]), "same", boundary="symm")
        edge = (np.maximum(np.abs(ex), np.abs(ey)) != 0).astype(np.uint8)
        out[z] = dilation(edge, np.ones((2 * k + 1, 2 * k + 1), np.uint8))
    return out


def ref_distance(lab: np.ndarray, res, bg: float, padding: bool) -> np.ndarray:
    lab = sk_label(lab)
    if padding:
        lab = np.pad(lab, 2)
    out = np.zeros(lab.shape, np.float64)
    for i in np.unique(lab)[1:]:
        mask = remove_small_holes(lab == i, max_size=15, connectivity=1)
        d = ndimage.distance_transform_edt(mask, res)
        out = np.maximum(out, d / (d.max() + 1e-6) * mask)
    out[out == 0] = bg
    if padding:
        out = out[tuple(slice(2, -2) for _ in out.shape)]
    return out.astype(np.float32)


def ref_signed(lab: np.ndarray, res, a: float, b: float) -> np.ndarray:
    def part(mask, alpha):
        return np.full(mask.shape, 5.0) if mask.all() else ndimage.distance_transform_edt(mask, res) / alpha

    return np.tanh(part(lab != 0, a) - part(lab == 0, b))


# --- tests ---


def test_foreground_two_cubes():
    lab = two_cubes()
    assert foreground(lab).sum() == 4 * 4 * 10 and foreground(lab).dtype == np.float32


def test_contour_two_cubes_by_hand():
    lab = two_cubes()[1]  # one slice of the cubes, 8 x 12
    expected = np.zeros((8, 12), np.float32)
    expected[[1, 6], 1:11] = 1  # background rows above/below: y-neighbours differ
    expected[2:6, :] = 1  # rows of the cubes ...
    expected[3:5, 2:5] = 0  # ... minus cube 7's inside (same label on both sides in y and x)
    expected[3:5, 7:10] = 0  # ... and cube 9's inside; the 7|9 seam (x = 5, 6) stays contour
    got = instance_contour(lab[None], k=0)[0]
    assert np.array_equal(got, expected)


@pytest.mark.parametrize("k", [0, 1, 2])
def test_contour_matches_pytc(k):
    lab = blobs(1)
    assert np.array_equal(instance_contour(lab, k), ref_contour(lab, k))


def test_distance_two_cubes_by_hand():
    lab = two_cubes()
    d = instance_distance(lab, mode="3d")
    # a box's EDT is the distance to its nearest face; cube 7 is 4 x 4 x 5, so its maximum is 2
    half, full = 1 / (2 + 1e-6), 2 / (2 + 1e-6)
    assert d[0, 0, 0] == -1 and (d == -1).sum() == lab.size - 160
    assert d[1, 2, 1] == pytest.approx(half, abs=1e-7)  # corner
    assert d[2, 3, 3] == pytest.approx(full, abs=1e-7)  # centre
    assert d[2, 3, 5] == pytest.approx(half, abs=1e-7)  # next to cube 9: a different label is outside
    assert d[2, 3, 6] == pytest.approx(half, abs=1e-7)
    assert d[2, 3, 8] == pytest.approx(full, abs=1e-7)


@pytest.mark.parametrize("mode", ["2d", "3d"])
@pytest.mark.parametrize("black_border", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_distance_matches_pytc(mode, black_border, seed):
    lab = blobs(seed)
    got = instance_distance(lab, mode=mode, bg_value=-1.0, black_border=black_border)
    if mode == "3d":
        want = ref_distance(lab, (1, 1, 1), -1.0, black_border)
    else:
        want = np.stack([ref_distance(s, (1, 1), -1.0, black_border) for s in lab])
    np.testing.assert_allclose(got, want, atol=2e-6)


def test_distance_anisotropic_and_bg_zero():
    lab = blobs(3, shape=(8, 20, 20), n=4)
    got = instance_distance(lab, voxel_size=(30, 10, 10), mode="3d", bg_value=0.0)
    np.testing.assert_allclose(got, ref_distance(lab, (3, 1, 1), 0.0, False), atol=2e-6)
    assert got.min() == 0.0 and 0 < got.max() <= 1


@pytest.mark.parametrize("mode", ["2d", "3d"])
def test_signed_distance_matches_pytc(mode):
    lab = blobs(4)
    lab[2] = 3  # an all-foreground slice
    got = signed_distance(lab, voxel_size=(20, 10, 10), mode=mode)
    want = np.stack([ref_signed(s, (1, 1), 8, 50) for s in lab]) if mode == "2d" else ref_signed(lab, (2, 1, 1), 8, 50)
    np.testing.assert_allclose(got, want, atol=2e-6)
