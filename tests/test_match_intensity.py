"""match-intensity: polarity, blur and histogram decisions, and the stage (blockwise == whole, labels carried over)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from em2exm import intensity_match as match
from em2exm import ome
from em2exm.stagekit import run_stage
from scipy import ndimage as ndi
from skimage.segmentation import find_boundaries

from stages import match_intensity as stage

SHAPE = (24, 48, 64)


def _cells(seed: int = 0) -> np.ndarray:
    """Voronoi-like instance labels: nearest of random seeds."""
    rng = np.random.default_rng(seed)
    points = rng.uniform(0, 1, (12, 3)) * SHAPE
    grid = np.stack(np.indices(SHAPE), -1).reshape(-1, 1, 3)
    return (np.argmin(((grid - points) ** 2).sum(-1), axis=1) + 1).reshape(SHAPE).astype(np.uint32)


def _em(labels: np.ndarray, seed: int = 1) -> np.ndarray:
    """EM-like: bright cytoplasm, thin dark membranes, noise."""
    rng = np.random.default_rng(seed)
    image = 200.0 - 150.0 * find_boundaries(labels, mode="inner") + rng.normal(0, 10, labels.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def _exm(labels: np.ndarray, sigma: tuple[float, float, float], seed: int = 2) -> np.ndarray:
    """ExM-like: blurred bright membranes on a dark background, noise."""
    rng = np.random.default_rng(seed)
    membranes = find_boundaries(labels, mode="inner").astype(float)
    image = 20.0 + 600.0 * ndi.gaussian_filter(membranes, sigma) + rng.normal(0, 6, labels.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def test_polarity_is_told_by_skewness() -> None:
    labels = _cells()
    em, exm = match.histogram(_em(labels)), match.histogram(_exm(labels, (1, 1, 1)))
    assert match.skewness(em) < 0 < match.skewness(exm)
    assert match.opposite_polarity(em, exm) and not match.opposite_polarity(exm, exm)


@pytest.mark.parametrize("sigma", [1.0, 2.0])
def test_blur_is_found_from_the_autocorrelation_despite_noise(sigma: float) -> None:
    rng = np.random.default_rng(0)
    source = ndi.gaussian_filter(rng.normal(0, 1, (32, 96, 96)), 0.7)
    target = ndi.gaussian_filter1d(source, sigma, axis=1) + rng.normal(0, 0.05, source.shape)
    assert match.matching_sigma(source, target, 1) == pytest.approx(sigma, abs=0.5)
    assert match.matching_sigma(source, target, 2) <= 0.5


def test_cdf_table_gives_the_target_histogram() -> None:
    rng = np.random.default_rng(0)
    source = rng.normal(150, 20, 100_000).clip(0, 255).astype(np.uint8)
    target = rng.gamma(2.0, 15.0, 100_000).clip(0, 255).astype(np.uint8)
    mapped = match.cdf_table(match.histogram(source), match.histogram(target))[source]
    quantiles = np.linspace(0.05, 0.95, 19)
    assert np.abs(np.quantile(mapped, quantiles) - np.quantile(target, quantiles)).max() <= 2


def test_sigma_from_resolution() -> None:
    assert match.sigma_from_resolution((2.3548, 4.7096, 4.7096), (1, 2, 1)) == pytest.approx((1, 1, 2), abs=1e-3)


@pytest.fixture(scope="module")
def volumes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("match")
    labels = _cells()
    em, exm = str(root / "em.zarr"), str(root / "exm.zarr")
    ome.create_image(em, SHAPE, np.uint8, (40, 16, 16))[:] = _em(labels)
    ome.create_labels(em, "groundtruth", np.uint32)[:] = labels
    ome.create_image(exm, SHAPE, np.uint8, (40, 16, 16))[:] = _exm(_cells(5), (1.0, 2.0, 2.0))
    return {"em": em, "labels": f"{em}/labels/groundtruth", "exm": exm}


def _match(volumes: dict[str, str], output: Path, *extra: str) -> int:
    args = ["--image", volumes["em"], "--labels", volumes["labels"], "--target", volumes["exm"], "--output", str(output)]
    return run_stage(stage.main, [*args, *extra])


def test_stage_blockwise_equals_whole_and_carries_labels(volumes: dict[str, str], tmp_path: Path, capsys) -> None:
    assert _match(volumes, tmp_path / "whole", "--set", "block=[64,64,64]") == 0
    whole = ome.open_image(str(tmp_path / "whole"))
    decided = whole.attrs["match"]
    assert decided["invert"] is True and decided["sigma"][1] > 0
    image = whole.array[:]
    assert np.abs(image.astype(int).mean() - ome.open_image(volumes["exm"]).array[:].mean()) < 3
    blocks = ["--set", "block=[8,16,32]"]
    assert _match(volumes, tmp_path / "fanned", *blocks, "--plan-blocks", "5") == 0
    ranges = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for task in ranges:
        assert _match(volumes, tmp_path / "fanned", *blocks, "--blocks", task) == 0
    assert _match(volumes, tmp_path / "fanned", *blocks, "--finalise") == 0
    assert np.array_equal(ome.open_image(str(tmp_path / "fanned")).array[:], image)
    carried = ome.open_labels(str(tmp_path / "fanned"), "groundtruth").array[:]
    assert np.array_equal(carried, ome.open_image(volumes["labels"]).array[:])


def test_given_resolution_and_polarity_are_used(volumes: dict[str, str], tmp_path: Path) -> None:
    assert _match(volumes, tmp_path / "m", "--set", "invert=false", "--set", "target_resolution_nm=[94.2,75.4,75.4]") == 0
    decided = ome.open_image(str(tmp_path / "m")).attrs["match"]
    assert decided["invert"] is False and decided["sigma"] == pytest.approx([1.0, 2.0, 2.0], abs=0.01)


def test_float_image_exits_2_and_writes_nothing(volumes: dict[str, str], tmp_path: Path, capsys) -> None:
    bad = str(tmp_path / "float.zarr")
    ome.create_image(bad, SHAPE, np.float32, (40, 16, 16))
    args = ["--image", bad, "--target", volumes["exm"], "--output", str(tmp_path / "out")]
    assert run_stage(stage.main, args) == 2
    assert "not uint8" in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_drawn_membranes_mark_every_boundary_in_3d_and_read_like_the_whole() -> None:
    labels = _cells()
    drawn = match.DrawnMembranes(labels)
    whole = drawn[tuple(slice(0, n) for n in SHAPE)]
    assert set(np.unique(whole)) == {0, 255}
    boundary = find_boundaries(labels, mode="thick")  # every voxel with a differing 6-neighbour
    assert np.array_equal(whole == 255, boundary)
    box = (slice(5, 17), slice(9, 30), slice(40, 64))
    assert np.array_equal(drawn[box], whole[box])


def test_labels_source_draws_the_labels_not_the_image(volumes: dict[str, str], tmp_path: Path, capsys) -> None:
    """source: labels ignores the EM image: a blank EM with the same labels gives the same bytes, blockwise too."""
    blank = str(tmp_path / "blank.zarr")
    ome.create_image(blank, SHAPE, np.uint8, (40, 16, 16))[:] = 128
    drawn = {**volumes, "em": blank}
    assert _match(volumes, tmp_path / "a", "--set", "source=labels") == 0
    assert _match(drawn, tmp_path / "b", "--set", "source=labels", "--set", "block=[8,16,32]") == 0
    a = ome.open_image(str(tmp_path / "a"))
    assert a.attrs["match"]["invert"] is False, "drawn membranes are bright like the ExM's"
    assert np.array_equal(a.array[:], ome.open_image(str(tmp_path / "b")).array[:])
    membranes = find_boundaries(_cells(), mode="thick")
    assert a.array[:][membranes].mean() > a.array[:][~membranes].mean() + 20


def test_labels_source_without_labels_exits_2(volumes: dict[str, str], tmp_path: Path, capsys) -> None:
    args = ["--image", volumes["em"], "--target", volumes["exm"], "--output", str(tmp_path / "out"), "--set", "source=labels"]
    assert run_stage(stage.main, args) == 2
    assert "match.source is 'labels'" in capsys.readouterr().err and not (tmp_path / "out").exists()
