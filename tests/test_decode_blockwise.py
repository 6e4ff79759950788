"""Blockwise decode: the block plan, per-block decode through array slicing, serialisable stitching
arrays, and stitching that gives the whole-volume labels (same ids) for objects of any size; only
voxels whose label the watershed's tie order decides (on exact plateaus, ``reference.tied``) may differ."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import edt
import numpy as np
import pytest
from em2exm import decode
from em2exm.decode import (
    BlockData,
    BlockPlan,
    MemoryState,
    apply_block,
    decode_block,
    decode_blockwise,
    flood_pass,
    merge_pass,
    number_pass,
    plan_for,
    reference,
)
from em2exm.decode.buckets import _sources_in_order, relax_flood
from em2exm.decode.ccblock import _distinct_rows
from em2exm.decode.relax import settled
from em2exm.decode.wsblock import _border
from em2exm.errors import UserError
from scipy import ndimage as ndi
from skimage.segmentation import find_boundaries

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "pytc_v1_decode"
META = json.loads((FIXTURES / "meta.json").read_text()) if (FIXTURES / "meta.json").exists() else {}
needs_fixtures = pytest.mark.skipif(not META, reason=f"PyTC decode fixtures not found at {FIXTURES}")

DECODERS = {
    "bc_watershed": (2, {"thres1": 0.8, "thres2": 0.5, "thres3": 0.5, "thres_small": 8, "seed_thres": 4}),
    "bcd_watershed": (3, {"thres1": 0.8, "thres2": 0.5, "thres3": 0.5, "thres4": 0.2, "thres5": -0.5,
                          "thres_small": 8, "seed_thres": 4}),
    "binary_watershed": (1, {"thres1": 0.95, "thres2": 0.5, "thres_small": 8, "seed_thres": 4}),
    "bc_connected": (2, {"thres1": 0.6, "thres2": 0.5, "thres_small": 8, "dilation_struct": (3, 3, 5)}),
}


class Recording:
    """An array-like that records the slices read from it (as a zarr array would serve them)."""

    def __init__(self, array: np.ndarray) -> None:
        self.array, self.reads = array, []

    def __getitem__(self, key: tuple[slice, ...]) -> np.ndarray:
        self.reads.append(key)
        return self.array[key]


def tube_labels(seed: int, shape: tuple[int, int, int], n: int = 7) -> np.ndarray:
    """``n`` touching tubes (radius 3.5-4.5), each a polyline from near one corner of the volume through
    two random points to near the opposite corner, so every tube spans >= 60% of every axis; a voxel
    belongs to its nearest tube."""
    rng = np.random.default_rng(seed)
    grid = np.indices(shape).reshape(3, -1).T.astype(float)
    best, owner = np.full(grid.shape[0], np.inf), np.zeros(grid.shape[0], np.uint16)
    for k in range(1, n + 1):
        start = rng.uniform(0, 0.2, 3)
        flip = rng.integers(0, 2, 3).astype(bool)
        ends = np.where(flip, 1 - np.stack([start, rng.uniform(0.8, 1, 3)]), np.stack([start, rng.uniform(0.8, 1, 3)]))
        points = np.stack([ends[0], *rng.uniform(0, 1, (2, 3)), ends[1]]) * shape
        radius = rng.uniform(3.5, 4.5)
        distance = np.full(grid.shape[0], np.inf)
        for a, b in zip(points[:-1], points[1:]):
            t = np.clip((grid - a) @ (b - a) / ((b - a) @ (b - a)), 0, 1)
            distance = np.minimum(distance, np.linalg.norm(grid - (a + t[:, None] * (b - a)), axis=1) / radius)
        closer = (distance < 1) & (distance < best)
        best[closer], owner[closer] = distance[closer], k
    return owner.reshape(shape)


def maps_of(labels: np.ndarray, channels: int, seed: int, noise: float = 0.03) -> np.ndarray:
    """uint8 B/C/D maps of ``labels`` as a network draws them: foreground rising from the objects'
    borders to their centres, with noise (few exact ties), contour, normalised signed distance."""
    rng = np.random.default_rng(seed)
    fg = labels > 0
    distance = edt.edt(labels)
    centred = distance / np.maximum(np.asarray(ndi.maximum(distance, labels, np.arange(labels.max() + 1)))[labels], 1)
    maps = [ndi.gaussian_filter(fg * (0.6 + 0.4 * centred), 0.5) + rng.normal(0, noise, labels.shape)]
    if channels > 1:
        maps.append(ndi.gaussian_filter(find_boundaries(labels).astype(float), 0.6) * 1.5)
    if channels > 2:
        maps.append((centred + 1) / 2 * fg)
    return (np.clip(np.stack(maps), 0, 1) * 255).astype(np.uint8)


def blocks_spanned(mask: np.ndarray, block: tuple[int, int, int]) -> int:
    """Fewest blocks of size ``block`` that ``mask`` meets along any one axis."""
    return min(np.unique(np.flatnonzero(mask.any(axis=tuple(a for a in range(3) if a != axis))) // size).size
               for axis, size in enumerate(block))


def assert_equal_but_plateaus(func: str, maps: np.ndarray, kwargs: dict, blockwise: np.ndarray,
                              whole: np.ndarray) -> int:
    """Blockwise labels equal the whole-volume ones (same ids) except on tied voxels (watershed
    decoders); bc_connected has no ties, so everywhere. Returns the number of differing voxels."""
    differ = blockwise != whole
    if func == "bc_connected":
        assert not differ.any()
    else:
        loose = differ & ~reference.tied(func, maps, **kwargs)
        assert not loose.any(), f"{int(loose.sum())} voxels differ off the plateaus"
    return int(differ.sum())


def test_plan_cores_tile_the_volume_and_outer_boxes_clip() -> None:
    plan = BlockPlan((10, 13, 7), (4, 5, 7), (2, 3, 1))
    assert plan.grid == (3, 3, 1) and len(plan) == 9
    assert list(plan.block_ids(4, 7)) == [4, 5, 6] and list(plan.block_ids(8, 20)) == [8]
    owner = np.zeros(plan.shape, int)
    for k in plan.block_ids():
        assert plan.block_id(plan.coords(k)) == k
        owner[plan.core(k)] += 1
        outer = plan.outer(k)
        assert all(0 <= o.start <= c.start and c.stop <= o.stop <= s
                   for o, c, s in zip(outer, plan.core(k), plan.shape))
    assert (owner == 1).all()
    assert plan.outer(0) == (slice(0, 6), slice(0, 8), slice(0, 7))
    assert plan.core(8) == (slice(8, 10), slice(10, 13), slice(0, 7))
    assert plan.id_stride == 8 * 11 * 9 + 1
    assert plan.upper_neighbours(0) == {0: 3, 1: 1} and plan.upper_neighbours(8) == {}


@pytest.mark.parametrize("kwargs", [{"halo": (0, 1, 1)}, {"block": (0, 4, 4)}, {"shape": (4, 4)}])
def test_plan_rejects_bad_geometry(kwargs: dict) -> None:
    with pytest.raises(UserError):
        BlockPlan(**{"shape": (8, 8, 8), "block": (4, 4, 4), "halo": (1, 1, 1), **kwargs})


@pytest.mark.parametrize(("func", "halo"), [("bc_watershed", (1, 1, 1)), ("bc_connected", (1, 1, 2))])
def test_block_reads_only_its_outer_box_with_the_halo_the_decoder_needs(func: str, halo: tuple) -> None:
    maps = maps_of(tube_labels(0, (12, 16, 16), 2), 2, 0)
    spec = decode.spec(func, thres_small=0, dilation_struct=(1, 3, 5)) if func == "bc_connected" else decode.spec(func)
    plan = plan_for(maps.shape[1:], (6, 8, 8), spec)
    assert plan.halo == halo
    source = Recording(maps)
    local, data = decode_block(source, plan, 7, spec)
    assert source.reads == [(slice(None), *plan.outer(7))]
    assert local.shape == (6, 8, 8) and data.block_id == 7
    with pytest.raises(ValueError, match="halo"):
        decode_block(maps, BlockPlan(maps.shape[1:], (6, 8, 8), (2, 2, 2)), 0, spec)


def test_block_data_round_trips_through_npz(tmp_path: Path) -> None:
    maps = maps_of(tube_labels(1, (12, 16, 16), 3), 3, 1)
    spec = decode.spec("bcd_watershed", **DECODERS["bcd_watershed"][1])
    plan = plan_for(maps.shape[1:], (6, 8, 8), spec)
    _, data = decode_block(maps, plan, 3, spec)
    np.savez_compressed(tmp_path / "block.npz", **data.to_arrays())
    with np.load(tmp_path / "block.npz") as stored:
        back = BlockData.from_arrays(stored)
    assert back.block_id == 3 and sorted(back.arrays) == sorted(data.arrays)
    assert all(np.array_equal(back[k], data[k]) for k in data.arrays)


@pytest.mark.parametrize("func", sorted(DECODERS))
@pytest.mark.parametrize("block", [(6, 10, 10), (5, 12, 7), (8, 9, 11)])
def test_objects_spanning_many_blocks_decode_as_the_whole_volume(func: str, block: tuple) -> None:
    """Touching tubes that wind through >= 3 blocks in every axis (so a block holds pieces of one
    object that meet only outside it, and seeds far from most of their object): same labels and ids
    as the whole-volume decode, except tied voxels."""
    channels, kwargs = DECODERS[func]
    labels = tube_labels(2, (30, 48, 48), 5)
    maps = maps_of(labels, channels, 2)
    whole = getattr(decode, func)(maps, **kwargs)
    assert sum(blocks_spanned(whole == k, block) >= 3 for k in range(1, whole.max() + 1)) >= 3
    blockwise = decode_blockwise(maps, block, decode.spec(func, **kwargs))
    assert blockwise.max() == whole.max()
    assert_equal_but_plateaus(func, maps, kwargs, blockwise, whole)


@pytest.mark.parametrize("func", ["bc_watershed", "binary_watershed"])
def test_u_shaped_object_whose_arms_meet_below_the_block_is_one_object(func: str) -> None:
    """A U whose single seed sits at its bottom, two blocks below its arms' tops: each upper block
    holds two pieces joined only outside it, and no seed."""
    labels = np.zeros((24, 12, 20), np.uint16)
    labels[2:22, 4:8, 3:7] = labels[2:22, 4:8, 13:17] = labels[18:22, 4:8, 3:17] = 1
    maps = maps_of(labels, DECODERS[func][0], 3, noise=0.0)
    maps[0][labels > 0] = 240
    maps[0][19:21, 5:7, 8:12] = 255
    kwargs = {"thres1": 0.98, "thres3" if func == "bc_watershed" else "thres2": 0.5, "thres_small": 8, "seed_thres": 4}
    whole = getattr(decode, func)(maps, **kwargs)
    assert whole.max() == 1 and np.count_nonzero(whole) > 600
    for block in [(8, 12, 10), (6, 6, 7)]:
        assert np.array_equal(decode_blockwise(maps, block, decode.spec(func, **kwargs)), whole)


@pytest.mark.parametrize("func", ["bc_watershed", "bcd_watershed"])
def test_plateau_ties_move_only_tied_voxels(func: str) -> None:
    """Saturated maps (255 plateaus inside touching tubes): where two seeds reach a voxel at the same
    level, only scikit-image's heap order decides, which a block cannot see; nowhere else differs."""
    channels, kwargs = DECODERS[func]
    labels = tube_labels(4, (20, 40, 40), 6)
    maps = maps_of(labels, channels, 4, noise=0.0)
    maps[0] = np.where(labels > 0, 255, maps[0] // 2)
    whole = getattr(decode, func)(maps, **kwargs)
    blockwise = decode_blockwise(maps, (7, 13, 13), decode.spec(func, **kwargs))
    assert np.array_equal(blockwise == 0, whole == 0) and blockwise.max() == whole.max()
    assert reference.tied(func, maps, **kwargs).any()
    assert_equal_but_plateaus(func, maps, kwargs, blockwise, whole)


def flooded_in_groups(maps: np.ndarray, block: tuple, spec: decode.specs.Spec, grouping: str,
                      retried: bool = False) -> tuple[np.ndarray, int]:
    """Blockwise labels with each flood round run on the blocks ``together`` (one task), each ``alone``, or
    ``interleaved`` (odd and even blocks, high ids first), and the number of rounds the flood took to settle. With
    ``retried`` the odd blocks' first round is flooded again without the even ones, as a task retried after the even
    blocks' records were written."""
    plan = plan_for(maps.shape[1:], block, spec)
    ids = list(plan.block_ids())
    decoded = [decode_block(maps, plan, k, spec) for k in ids]
    state = MemoryState([data for _, data in decoded])
    merge_pass(plan, spec, ids, state)
    groups = {"together": [ids], "alone": [[k] for k in ids], "interleaved": [ids[1::2][::-1], ids[::2][::-1]]}
    rounds, done = 0, False
    while not done:
        records = {k: r for group in groups[grouping] for k, r in flood_pass(plan, state, group, rounds).items()}
        if retried and rounds == 0:
            records.update(flood_pass(plan, state, ids[1::2], rounds))
        done = settled(records)
        rounds += 1
    labels = np.zeros(plan.shape, np.uint32)
    number_pass(spec, ids, state, rounds)
    for k, (local, _) in enumerate(decoded):
        labels[plan.core(k)] = apply_block(state, k, local, rounds)
    return labels, rounds


@pytest.mark.parametrize("func", ["bc_watershed", "bcd_watershed", "binary_watershed"])
@pytest.mark.parametrize("saturated", [False, True])
def test_flood_settles_to_the_same_labels_however_tasks_group_blocks(func: str, saturated: bool) -> None:
    """A task floods its blocks until none is stale, reading other tasks' blocks as the round before left them:
    one task settles in one round, one block per task in several (the tubes' open voxels cross blocks).
    Every grouping, and a task retried on part of its blocks, gives the same labels, also on saturated maps, where
    only the flood's order decides plateau voxels; they are the whole-volume labels but on those voxels."""
    channels, kwargs = DECODERS[func]
    labels = tube_labels(5, (24, 40, 40), 6)
    maps = maps_of(labels, channels, 5, noise=0.0 if saturated else 0.03)
    if saturated:
        maps[0] = np.where(labels > 0, 255, maps[0] // 2)
    spec = decode.spec(func, **kwargs)
    together, rounds = flooded_in_groups(maps, (7, 11, 13), spec, "together")
    alone, rounds_alone = flooded_in_groups(maps, (7, 11, 13), spec, "alone")
    assert rounds == 1 and (saturated or rounds_alone >= 2)
    assert np.array_equal(alone, together)
    for grouping, retried in (("interleaved", False), ("together", True), ("alone", True)):
        apart, _ = flooded_in_groups(maps, (7, 11, 13), spec, grouping, retried)
        assert np.array_equal(apart, together), (grouping, retried)
    assert_equal_but_plateaus(func, maps, kwargs, together, getattr(decode, func)(maps, **kwargs))
    assert np.array_equal(decode_blockwise(maps, (7, 11, 13), spec), together)


class CountingState(MemoryState):
    """A :class:`MemoryState` that counts the flood parts read."""

    def __init__(self, blocks: list) -> None:
        super().__init__(blocks)
        self.flood_reads = 0

    def load(self, kind: str, block_id: int) -> dict:
        self.flood_reads += kind.startswith("flood.")
        return super().load(kind, block_id)


def test_a_round_with_nothing_stale_reads_only_records() -> None:
    """Whether a block is stale comes from the records of the round before (the stage's small per-block markers),
    so a round after the flood settled reads no block's flood, stores only which round holds each one's, and
    gives the records it was given."""
    channels, kwargs = DECODERS["bc_watershed"]
    maps = maps_of(tube_labels(5, (24, 40, 40), 6), channels, 5, noise=0.03)
    spec = decode.spec("bc_watershed", **kwargs)
    plan = plan_for(maps.shape[1:], (7, 11, 13), spec)
    ids = list(plan.block_ids())
    state = CountingState([decode_block(maps, plan, k, spec)[1] for k in ids])
    merge_pass(plan, spec, ids, state)
    rounds, records = 0, {}
    while not records or not settled(records):
        records = {k: r for k in ids for k, r in flood_pass(plan, state, [k], rounds, records.get).items()}
        rounds += 1
    assert rounds >= 2 and state.flood_reads > 0
    state.flood_reads = 0
    again = {k: r for k in ids for k, r in flood_pass(plan, state, [k], rounds, records.get).items()}
    assert state.flood_reads == 0 and again == records
    assert all(int(state.load(f"flood.{rounds}", k)["same_as"]) == records[k]["round"] for k in ids)


def test_scale_factors_are_rejected_blockwise() -> None:
    with pytest.raises(UserError, match="scale_factors"):
        decode.spec("bc_watershed", scale_factors=(1, 2, 2))


@functools.lru_cache(maxsize=1)
def fixture_maps(name: str) -> np.ndarray:
    """The first eighth (64 x 128 x 128) of a fixture input: the oracle is slow on the whole."""
    with np.load(FIXTURES / Path(name).with_suffix(".npz").name) as f:
        return np.ascontiguousarray(f["maps"][:, :64, :128, :128])


@needs_fixtures
@pytest.mark.parametrize("case", ["A_clean", "C_mild", "D_mild", "I_mild"])
def test_fixture_in_eight_blocks_equals_whole_volume(case: str) -> None:
    spec = META[case]
    maps = fixture_maps(spec["input"])
    whole = getattr(decode, spec["func"])(maps, **spec["kwargs"])
    blockwise = decode_blockwise(maps, (32, 64, 64), decode.spec(spec["func"], **spec["kwargs"]))
    assert blockwise.max() == whole.max() > 10
    assert_equal_but_plateaus(spec["func"], maps, spec["kwargs"], blockwise, whole)


@pytest.mark.parametrize("width", [1, 2, 4])
def test_candidate_sets_are_numpys_distinct_rows(width: int) -> None:
    rows = np.sort(np.random.default_rng(width).integers(0, 5, (300, width)), axis=1)
    sets, which = _distinct_rows(rows)
    expected, inverse = np.unique(rows, axis=0, return_inverse=True)
    assert np.array_equal(sets, expected) and np.array_equal(which, inverse.reshape(-1))
    assert np.array_equal(sets[which], rows)


def test_flood_sources_pop_by_value_then_depth_then_position() -> None:
    rng = np.random.default_rng(7)
    label = np.where(rng.random(2000) < 0.7, rng.integers(0, 9, 2000), -1)
    value = rng.integers(0, 6, 2000)
    depth = np.where(rng.random(2000) < 0.2, rng.integers(1, 4, 2000), 0)
    sources = np.flatnonzero(label >= 0)
    expected = sources[np.lexsort((sources, depth[sources], value[sources]))]
    assert np.array_equal(_sources_in_order(label, value, depth), expected)


@pytest.mark.parametrize("faces", [(0, 0, 0, 0, 0, 0), (1, 0, 0, 1, 1, 1)])
def test_block_border_is_open_voxels_their_neighbours_and_shared_faces(faces: tuple[int, ...]) -> None:
    rng = np.random.default_rng(sum(faces))
    labels = np.zeros((8, 11, 13), np.uint32)
    labels[1:-1, 1:-1, 1:-1] = np.where(rng.random((6, 9, 11)) < 0.8, rng.integers(1, 40, (6, 9, 11)), 0)
    near = ndi.binary_dilation(labels > 30, ndi.generate_binary_structure(3, 1))
    for axis in range(3):
        for last in (0, 1):
            if faces[2 * axis + last]:
                near[(slice(None),) * axis + (labels.shape[axis] - 2 if last else 1,)] = True
    expected = np.flatnonzero((near & (labels != 0))[1:-1, 1:-1, 1:-1])
    assert np.array_equal(_border(labels, 30, np.array(faces, bool)), expected)


def test_sparse_flood_steps_to_six_neighbours_only() -> None:
    shape = np.array([2, 3, 4])
    at = lambda z, y, x: (z * 3 + y) * 4 + x  # noqa: E731
    # (0, 0, 3) and (0, 1, 0) are one flat index apart but not neighbours; (0, 1, 3) is (0, 0, 3)'s +y neighbour
    index = np.array([at(0, 0, 3), at(0, 1, 0), at(0, 1, 3), at(1, 1, 3)])
    label, value = np.array([5, -1, -1, -1]), np.zeros(4, np.int64)
    relax_flood(index, np.full(4, 250, np.uint8), value, np.zeros(4, np.int64), label, np.zeros(4, bool), shape)
    assert label.tolist() == [5, -1, 5, 5] and value.tolist() == [0, 0, 5, 5]
