"""em2exm.tiling: block grids, window grids, blend weights, padded reads and the chunk rule."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from em2exm.tiling import (
    Blender,
    BlockGrid,
    BoxReader,
    WindowGrid,
    chunks_for,
    read_padded,
    span,
    stride_for,
    tile,
    window_overlap,
    window_weights,
)

SHAPES = [((10, 30, 41), (4, 16, 16)), ((8, 8, 8), (8, 8, 8)), ((5, 7, 9), (2, 3, 20)), ((1, 1, 1), (3, 3, 3))]


@pytest.mark.parametrize(("shape", "block"), SHAPES)
def test_block_grid_cores_cover_the_volume_once(shape, block):
    grid = BlockGrid(shape, block)
    assert len(grid) == np.prod([-(-n // b) for n, b in zip(shape, block)])
    seen = np.zeros(shape, int)
    for block_id, core in enumerate(grid.cores()):
        assert core == grid.core(block_id) and grid.block_id(grid.coords(block_id)) == block_id
        seen[core] += 1
    assert (seen == 1).all()
    with pytest.raises(IndexError):
        grid.core(len(grid))


def test_context_is_clipped_and_neighbours_are_adjacent():
    grid = BlockGrid((10, 30, 41), (4, 16, 16))
    assert grid.grid == (3, 2, 3)
    assert grid.context(0, (2, 3, 3)) == (slice(0, 6), slice(0, 19), slice(0, 19))
    last = len(grid) - 1
    assert grid.core(last) == (slice(8, 10), slice(16, 30), slice(32, 41))
    assert grid.context(last, (2, 3, 3)) == (slice(6, 10), slice(13, 30), slice(29, 41))
    assert grid.neighbours(0) == {(0, "+"): grid.block_id((1, 0, 0)), (1, "+"): grid.block_id((0, 1, 0)),
                                  (2, "+"): grid.block_id((0, 0, 1))}
    middle = grid.block_id((1, 1, 1))
    assert list(grid.neighbours(middle)) == [(0, "-"), (0, "+"), (1, "-"), (2, "-"), (2, "+")]
    for (axis, side), other in grid.neighbours(middle).items():
        a, b = grid.core(middle)[axis], grid.core(other)[axis]
        assert (b.stop == a.start) if side == "-" else (b.start == a.stop)
    assert grid.fingerprint() == {"shape": [10, 30, 41], "block": [4, 16, 16], "grid": [3, 2, 3]}
    with pytest.raises(ValueError):
        BlockGrid((10, 30, 41), (0, 16, 16))


def test_tile_splits_a_region_in_c_order():
    region = (slice(2, 9), slice(5, 6), slice(0, 10))
    boxes = tile(region, (4, 8, 6))
    assert boxes == [(slice(2, 6), slice(5, 6), slice(0, 6)), (slice(2, 6), slice(5, 6), slice(6, 10)),
                     (slice(6, 9), slice(5, 6), slice(0, 6)), (slice(6, 9), slice(5, 6), slice(6, 10))]
    assert tile((3, 4, 5), (3, 4, 5)) == [(slice(0, 3), slice(0, 4), slice(0, 5))]


def test_window_grid_positions_divide_or_not():
    grid = WindowGrid((4, 8, 8), (4, 5, 5))
    assert grid.starts((12, 18, 8)) == [[0, 4, 8], [0, 5, 10], [0]]  # strides divide: no tuck-in
    assert grid.starts((10, 20, 8)) == [[0, 4, 6], [0, 5, 10, 12], [0]]  # the last window flush with the end
    padded = WindowGrid((4, 8, 8), (2, 4, 4), (1, 2, 2))
    assert padded.starts((6, 12, 12))[:2] == [[-1, 1, 3], [-2, 2, 6]]
    thin = WindowGrid((8, 8, 8), (4, 4, 4))  # a volume thinner than the window: one centred window
    assert thin.starts((3, 8, 8))[0] == [-2] and thin.starts((3, 8, 8), spare="before")[0] == [-3]
    assert thin.padding((3, 8, 8)) == ((2, 0, 0), (3, 0, 0)) and thin.padding((4, 8, 8), "before") == ((2, 0, 0), (2, 0, 0))
    assert stride_for((129, 100, 5), 0.25) == (96, 75, 3) and stride_for((129, 100, 5), 0.25, "nearest") == (97, 75, 4)
    with pytest.raises(ValueError):
        stride_for((8, 8, 8), 1.0)


def test_windows_overlapping_a_box_cover_it():
    grid = WindowGrid((4, 8, 8), (3, 5, 5), (1, 2, 2))
    shape = (11, 23, 30)
    starts = grid.starts(shape)
    for core in BlockGrid(shape, (4, 9, 7)).cores():
        picked = grid.overlapping(starts, core)
        windows = list(itertools.product(*[[axis[k] for k in ks] for axis, ks in zip(starts, picked)]))
        covered = np.zeros([c.stop - c.start for c in core], int)
        for win in windows:
            covered[window_overlap(win, grid.size, core)[1]] += 1
        assert covered.min() >= 1
        lo, hi = span(windows, grid.size)
        assert all(a <= c.start and b >= c.stop for a, b, c in zip(lo, hi, core))


@pytest.mark.parametrize("size", [(3, 5, 5), (1, 9, 8), (5, 17, 17)])
def test_weight_function(size):
    for blend, gaussian in [("gaussian", "pytc"), ("gaussian", "separable"), ("linear", "pytc"), ("constant", "pytc")]:
        w = window_weights(size, blend, 0.25, gaussian)
        assert w.shape == size and w.dtype == np.float32 and w.min() > 0 and not w.flags.writeable
        np.testing.assert_array_equal(w, w[::-1, ::-1, ::-1])  # symmetric
        assert w[tuple(n // 2 for n in size)] == w.max()
    assert (window_weights(size, "constant") == 1).all()
    pytc, separable = window_weights((3, 5, 5), sigma=0.25), window_weights((3, 5, 5), "gaussian", 0.25, "separable")
    np.testing.assert_allclose(pytc, separable, rtol=1e-6)  # one function, two evaluations
    assert window_weights((3, 5, 5), sigma=0.5)[0, 2, 2] > window_weights((3, 5, 5), sigma=0.2)[0, 2, 2]
    with pytest.raises(ValueError):
        window_weights((3, 5, 5), "box")  # type: ignore[arg-type]


def test_blender_is_the_weighted_mean():
    core = (slice(2, 6), slice(0, 4), slice(0, 4))
    weight = window_weights((4, 4, 4), "linear")
    blender = Blender(core, 1, weight)
    for start, value in [((0, 0, 0), 1.0), ((3, 0, 0), 3.0), ((9, 0, 0), 50.0)]:  # the last misses the core
        blender.add(start, np.full((1, 4, 4, 4), value, np.float32))
    out = blender.result()[0]
    assert np.allclose(out[:1], 1) and np.allclose(out[2:], 3) and 1 < out[1].min() < 3


def test_padded_reader_equals_numpy_reflect():
    vol = np.arange(5 * 6 * 7, dtype=np.uint16).reshape(5, 6, 7)
    padded = np.pad(vol, ((3, 9), (2, 2), (0, 4)), mode="reflect")
    np.testing.assert_array_equal(read_padded(vol, (-3, -2, 0), (14, 8, 11)), padded)
    np.testing.assert_array_equal(read_padded(vol, (1, 2, 3), (4, 5, 6)), vol[1:4, 2:5, 3:6])
    reads = []
    reader = BoxReader(lambda box: reads.append(box) or vol[box], vol.shape)
    np.testing.assert_array_equal(read_padded(reader, (0, -1, 5), (2, 3, 9)), np.pad(vol, ((0, 0), (1, 0), (0, 2)),
                                                                                       mode="reflect")[0:2, 0:4, 5:9])
    assert reads == [(slice(0, 2), slice(0, 3), slice(4, 7))]  # one read of the voxels it needs (x 7, 8 reflect to 5, 4)
    flat = np.arange(4, dtype=np.uint8).reshape(1, 1, 4)
    np.testing.assert_array_equal(read_padded(flat, (-2, 0, 0), (3, 1, 4)), np.pad(flat, ((2, 2), (0, 0), (0, 0)), mode="edge"))


@pytest.mark.parametrize("block", [1, 7, 16, 48, 64, 96, 97, 100, 128, 130, 200, 512])
def test_chunk_rule_divides_blocks(block):
    shape = 5 * block + 3
    chunk = chunks_for((block, block, block), (shape, block, max(1, block // 2)))
    assert block % chunk[0] == 0 and chunk[0] <= max(64, block)
    assert chunk[1] == min(64, block) and chunk[2] == min(64, max(1, block // 2))  # one block spans the axis
    chunk_of = [v // chunk[0] for v in range(shape)]
    for core in BlockGrid((shape, 1, 1), (block, 1, 1)).cores()[1:]:
        assert chunk_of[core[0].start] != chunk_of[core[0].start - 1]  # blocks never share a chunk
    assert chunks_for((96, 96, 96), (1000, 1000, 1000)) == (48, 48, 48)
    assert chunks_for((97, 128, 100), (1000, 1000, 1000)) == (97, 64, 50)


def test_compact_order_groups_blocks_in_cubes() -> None:
    """Decode's task ranges address blocks in this order (Z order): on a 4 x 4 x 8 grid every aligned run of 8 positions is a
    2 x 2 x 2 cube, and on a grid of odd sizes the order still holds every block once."""
    grid = BlockGrid((4, 4, 8), (1, 1, 1))
    order = grid.compact_order()
    assert sorted(order) == list(range(len(grid)))
    for start in range(0, len(order), 8):
        cube = np.array([grid.coords(k) for k in order[start:start + 8]])
        assert (cube.max(axis=0) - cube.min(axis=0)).tolist() == [1, 1, 1]
    odd = BlockGrid((97, 203, 311), (32, 64, 64))
    assert sorted(odd.compact_order()) == list(range(len(odd)))
