"""em2exm.decode reproduces PyTC v1.0's decoders: same partition on every fixture case, same as the
scikit-image oracle on random maps full of ties, same resize, the size thresholds of either
scikit-image rule at exactly the threshold (whole volume and blockwise), clear errors for bad input."""

from __future__ import annotations

import functools
import json
import warnings
from pathlib import Path

import edt
import numpy as np
import pytest
import skimage
from em2exm import decode
from em2exm.decode import reference
from em2exm.decode.options import DecodeOptions
from em2exm.decode.resize import resize_labels
from em2exm.errors import UserError
from em2exm.metrics import pair_counts
from packaging.version import Version
from scipy import ndimage as ndi
from skimage.morphology import remove_small_objects
from skimage.segmentation import find_boundaries
from skimage.transform import resize

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "pytc_v1_decode"
META = json.loads((FIXTURES / "meta.json").read_text()) if (FIXTURES / "meta.json").exists() else {}
needs_fixtures = pytest.mark.skipif(not META, reason=f"PyTC decode fixtures not found at {FIXTURES}")


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """True when ``a`` and ``b`` are the same labelling up to a renaming of ids (0 stays 0)."""
    table = pair_counts(a, b)
    one_to_one = np.unique(table.gt).size == table.gt.size == np.unique(table.seg).size
    zero_to_zero = np.array_equal(table.gt == 0, table.seg == 0)
    return bool(one_to_one and zero_to_zero)


@functools.lru_cache(maxsize=2)
def fixture_maps(name: str) -> np.ndarray:
    """A fixture input; meta.json names it .npy, the file on disk is .npz."""
    with np.load(FIXTURES / Path(name).with_suffix(".npz").name) as f:
        return f["maps"]


@needs_fixtures
@pytest.mark.parametrize("case", sorted(META, key=lambda c: META[c]["input"]))
def test_fixture_case_matches_pytc(case: str) -> None:
    spec = META[case]
    seg = getattr(decode, spec["func"])(fixture_maps(spec["input"]), **spec["kwargs"])
    with np.load(FIXTURES / f"ref_{case}.npz") as f:
        ref = f["seg"]
    assert seg.shape == ref.shape
    assert same_partition(seg, ref)
    assert np.unique(seg).size - 1 == spec["n_inst"]


def blob_maps(seed: int, channels: int, shape: tuple[int, int, int] = (20, 40, 40)) -> np.ndarray:
    """Maps of 12 random touching balls, quantised to 11 levels: 255 plateaus inside the balls and
    many equal values, where the watershed's order among equal seeds decides contested voxels
    (a FIFO-per-level flood disagrees with scikit-image on most of these seeds)."""
    rng = np.random.default_rng(seed)
    labels = np.zeros(shape, np.uint16)
    grid = np.indices(shape)
    for k in range(1, 13):
        centre, radius = rng.uniform(0, shape), rng.uniform(3, 7)
        labels[((grid - centre[:, None, None, None]) ** 2).sum(0) < radius**2] = k

    def quantise(field: np.ndarray) -> np.ndarray:
        return (np.round(np.clip(field, 0, 1) * 10) / 10 * 255).astype(np.uint8)

    fg = (labels > 0).astype(float)
    maps = [quantise(ndi.gaussian_filter(fg, 1.0) * 1.4 + rng.normal(0, 0.03, shape))]
    if channels > 1:
        maps.append(quantise(ndi.gaussian_filter(find_boundaries(labels).astype(float), 0.7) * 1.5))
    if channels > 2:
        distance = edt.edt(labels)
        peak = np.asarray(ndi.maximum(distance, labels, np.arange(labels.max() + 1)))
        maps.append(quantise((distance / np.maximum(peak[labels], 1) + 1) / 2 * fg))
    return np.stack(maps)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(
    ("func", "channels", "kwargs"),
    [
        ("bc_watershed", 2, {"thres1": 0.9, "thres2": 0.6, "thres3": 0.5, "thres_small": 8, "seed_thres": 4}),
        ("bcd_watershed", 3, {"thres1": 0.9, "thres2": 0.6, "thres3": 0.5, "thres4": 0.0, "thres5": -0.5,
                              "thres_small": 8, "seed_thres": 4}),
        ("binary_watershed", 1, {"thres1": 0.95, "thres2": 0.5, "thres_small": 8, "seed_thres": 2}),
        ("bc_connected", 2, {"thres1": 0.5, "thres2": 0.6, "thres_small": 8, "dilation_struct": (3, 3, 5)}),
    ],
)
def test_random_tie_heavy_maps_match_scikit_image(seed: int, func: str, channels: int, kwargs: dict) -> None:
    maps = blob_maps(seed, channels)
    ours = getattr(decode, func)(maps, **kwargs)
    oracle = reference.decode(func, maps, **kwargs)
    assert np.unique(oracle).size > 3, "the random maps should give several instances"
    assert same_partition(ours, oracle)


def worm_maps(seed: int, shape: tuple[int, int, int] = (12, 24, 24)) -> np.ndarray:
    """One-channel maps of thin random walks on few grey levels, each starting at a bright seed:
    the flood's queue for a level empties and refills many times along one-voxel paths."""
    rng = np.random.default_rng(seed)
    fg = np.zeros(shape, np.uint8)
    steps = np.concatenate([np.eye(3, dtype=int), -np.eye(3, dtype=int)])
    for _ in range(8):
        point = rng.integers(0, shape)
        fg[tuple(point)] = 255
        for _ in range(rng.integers(10, 60)):
            point = np.clip(point + steps[rng.integers(6)], 0, np.array(shape) - 1)
            if fg[tuple(point)] == 0:
                fg[tuple(point)] = rng.choice([200, 220, 240])
    return fg[None]


@pytest.mark.parametrize("seed", range(6))
def test_thin_paths_match_scikit_image(seed: int) -> None:
    maps = worm_maps(seed)
    kwargs = {"thres1": 0.98, "thres2": 0.5, "thres_small": 0, "seed_thres": 0}
    oracle = reference.decode("binary_watershed", maps, **kwargs)
    assert np.count_nonzero(oracle) > 100
    assert same_partition(decode.binary_watershed(maps, **kwargs), oracle)


SIZED = {"thres_small": 40, "seed_thres": 8}
SIZE_CASES = [("bc_watershed", 2, {}), ("bcd_watershed", 3, {}), ("binary_watershed", 1, {"thres1": 0.95}),
              ("bc_connected", 2, {"dilation_struct": (1, 1, 1)})]


def exact_size_maps(channels: int) -> np.ndarray:
    """Maps (uint8) of three boxes at foreground 220 (no seed) or 255 (seed): A of exactly 40 voxels,
    all seed; B of 96 voxels whose only seed has exactly 8; C of 96 voxels with a 27-voxel seed.
    Contour 0, distance 1 inside the boxes."""
    labels = np.zeros((12, 14, 16), np.uint8)
    labels[2:4, 2:6, 2:7] = 1
    labels[6:10, 2:6, 9:15] = 2
    labels[2:6, 8:12, 2:8] = 3
    fg = np.where(labels > 0, 220, 0)
    fg[labels == 1] = 255
    fg[7:9, 3:5, 11:13] = 255
    fg[3:6, 9:12, 3:6] = 255
    return np.stack([fg, np.zeros_like(fg), np.where(labels > 0, 255, 0)][:channels]).astype(np.uint8)


def skimage_removes_objects_of_the_threshold_size() -> bool:
    """What ``remove_small_objects(labels, t)``, PyTC's call, does here to an object of exactly t voxels."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return not (remove_small_objects(np.array([[1, 1, 0, 2, 2, 2]]), 2) == 1).any()


@pytest.mark.parametrize("inclusive", [True, False])
@pytest.mark.parametrize(("func", "channels", "kwargs"), SIZE_CASES)
def test_objects_of_exactly_the_threshold_size(func: str, channels: int, kwargs: dict, inclusive: bool) -> None:
    """small_inclusive=True removes an instance of exactly thres_small voxels (A) and a seed of exactly
    seed_thres voxels (so B is never flooded); False keeps both; both match the oracle's rule."""
    maps = exact_size_maps(channels)
    if func == "bc_connected":
        maps[0][maps[0] == 220] = 0  # components: A (40 voxels) and the seeds of B and C (8, 27: too small)
    args = {**SIZED, **kwargs, "small_inclusive": inclusive}
    if func == "bc_connected":
        del args["seed_thres"]
    seg = getattr(decode, func)(maps, **args)
    sizes = sorted(np.bincount(seg.reshape(-1))[1:].tolist())
    if func == "bc_connected":
        assert sizes == ([] if inclusive else [40])
    else:
        assert sizes == ([96] if inclusive else [40, 96, 96])
    assert same_partition(seg, reference.decode(func, maps, **args))


@pytest.mark.parametrize(("func", "channels", "kwargs"), SIZE_CASES)
def test_default_size_rule_is_scikit_image_0_26(func: str, channels: int, kwargs: dict) -> None:
    """The default is what PyTC does on scikit-image >= 0.26 (what a fresh install resolves
    scikit-image>=0.22 to): remove_small_objects(labels, t) removes objects of exactly t voxels."""
    maps = exact_size_maps(channels)
    if func == "bc_connected":
        maps[0][maps[0] == 220] = 0
    args = {"thres_small": 40, **({} if func == "bc_connected" else {"seed_thres": 8}), **kwargs}
    default = getattr(decode, func)(maps, **args)
    assert np.array_equal(default, getattr(decode, func)(maps, **args, small_inclusive=True))
    assert DecodeOptions().small_inclusive
    if Version(skimage.__version__) >= Version("0.26"):
        assert skimage_removes_objects_of_the_threshold_size()


@pytest.mark.parametrize("inclusive", [True, False])
@pytest.mark.parametrize(("func", "channels", "kwargs"), SIZE_CASES[:3])
def test_blockwise_keeps_the_size_rule_for_objects_cut_by_blocks(func: str, channels: int, kwargs: dict,
                                                                inclusive: bool) -> None:
    """Blocks of 3 x 4 x 5 cut A, B's 8-voxel seed and C into pieces below both thresholds: sizes are
    summed over blocks before either rule applies."""
    maps = exact_size_maps(channels)
    args = {**SIZED, **kwargs, "small_inclusive": inclusive}
    whole = getattr(decode, func)(maps, **args)
    assert np.array_equal(decode.decode_blockwise(maps, (3, 4, 5), decode.spec(func, **args)), whole)


@pytest.mark.parametrize("factors", [(1.0, 2.0, 2.0), (0.5, 0.5, 0.5), (2.0, 0.75, 1.3), (0.37, 3.0, 1.0)])
def test_scale_factors_match_skimage_resize(factors: tuple[float, float, float]) -> None:
    labels = np.random.default_rng(0).integers(0, 9, (11, 17, 23)).astype(np.uint16)
    target = tuple(int(s * f) for s, f in zip(labels.shape, factors))
    expected = resize(labels, target, order=0, anti_aliasing=False, preserve_range=True)
    np.testing.assert_array_equal(resize_labels(labels, factors), expected)


def test_scale_factors_resize_the_output() -> None:
    maps = blob_maps(1, 2)
    seg = decode.bc_watershed(maps, thres3=0.5, thres_small=8, seed_thres=4, scale_factors=(1.0, 2.0, 0.5))
    assert seg.shape == (20, 80, 20)


def test_empty_maps_give_empty_labels() -> None:
    for func, channels in (("bc_watershed", 2), ("bcd_watershed", 3), ("binary_watershed", 1), ("bc_connected", 2)):
        seg = getattr(decode, func)(np.zeros((channels, 4, 5, 6), np.uint8))
        assert seg.shape == (4, 5, 6) and not seg.any()


def test_float_maps_need_an_explicit_scale() -> None:
    probs = blob_maps(2, 2).astype(np.float32) / 255
    with pytest.raises(UserError, match="uint8") as err:
        decode.bc_watershed(probs)
    assert "float_scale" in err.value.fix
    kwargs = {"thres3": 0.5, "thres_small": 8, "seed_thres": 4}
    as_uint8 = np.trunc(probs * np.float32(255)).astype(np.uint8)
    assert same_partition(decode.bc_watershed(probs, float_scale=255, **kwargs), decode.bc_watershed(as_uint8, **kwargs))


@pytest.mark.parametrize(
    ("call", "problem"),
    [
        (lambda: decode.bc_watershed(np.zeros((3, 4, 4, 4), np.uint8)), "exactly 2 channel"),
        (lambda: decode.bcd_watershed(np.zeros((2, 4, 4, 4), np.uint8)), "exactly 3 channel"),
        (lambda: decode.bc_connected(np.zeros((1, 4, 4, 4), np.uint8)), "exactly 2 channel"),
        (lambda: decode.binary_watershed(np.zeros((0, 4, 4, 4), np.uint8)), "at least 1 channel"),
        (lambda: decode.bc_watershed(np.zeros((2, 4, 4), np.uint8)), "4-D"),
        (lambda: decode.bc_watershed(np.zeros((2, 4, 4, 4), np.uint16)), "uint8"),
        (lambda: decode.bc_watershed(np.zeros((2, 4, 4, 4), np.uint8), thres3=1.5), "thres3"),
        (lambda: decode.bcd_watershed(np.zeros((3, 4, 4, 4), np.uint8), thres5=-2), "thres5"),
        (lambda: decode.bc_watershed(np.zeros((2, 4, 4, 4), np.uint8), seed_thres=-1), "seed_thres"),
        (lambda: decode.bc_connected(np.zeros((2, 4, 4, 4), np.uint8), dilation_struct=(1, 4, 4)), "even"),
        (lambda: decode.bc_watershed(np.zeros((2, 4, 4, 4), np.uint8), remove_small_mode="neighbor"), "neighbor"),
        (lambda: decode.bc_watershed(np.zeros((2, 4, 4, 4), np.uint8), scale_factors=(1, 2)), "scale_factors"),
    ],
)
def test_bad_input_raises_user_error(call, problem: str) -> None:
    with pytest.raises(UserError, match=problem) as err:
        call()
    assert err.value.fix
