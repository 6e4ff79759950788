"""decode stage: OME-Zarr maps -> NGFF label image, whole-volume or fanned out in blocks, same result as
the library's decoders; bad input exits 2 and writes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED, run_cli
from em2exm import commit, decode, ome
from em2exm.decode import store
from em2exm.decode.options import DecodeOptions
from em2exm.metrics import pair_counts
from em2exm.stagekit import run_stage
from scipy import ndimage as ndi
from skimage.segmentation import find_boundaries

from stages import decode as stage

FIXTURES = SHARED / "fixtures" / "pytc_v1_decode"
BLOCKS = ["--set", "block=[16,32,32]"]
SMALL = {"thres3": 0.5, "thres_small": 8, "seed_thres": 4}


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """True when ``a`` and ``b`` are the same labelling up to a renaming of ids (0 stays 0)."""
    table = pair_counts(a, b)
    return bool(np.unique(table.gt).size == table.gt.size == np.unique(table.seg).size
                and np.array_equal(table.gt == 0, table.seg == 0))


def ball_maps(seed: int = 0, shape: tuple[int, int, int] = (32, 64, 64)) -> np.ndarray:
    """BC maps (uint8) of separate small balls (radius 2-4) on a jittered grid."""
    rng = np.random.default_rng(seed)
    labels = np.zeros(shape, np.uint16)
    grid = np.indices(shape)
    centres = np.stack(np.meshgrid(*(np.arange(6, s - 4, 11) for s in shape), indexing="ij"), -1).reshape(-1, 3)
    for k, centre in enumerate(centres + rng.integers(-1, 2, centres.shape), start=1):
        labels[((grid - centre[:, None, None, None]) ** 2).sum(0) < rng.uniform(2, 4) ** 2] = k
    fg = ndi.gaussian_filter((labels > 0).astype(float), 0.8) * 1.3 + rng.normal(0, 0.02, shape)
    contour = ndi.gaussian_filter(find_boundaries(labels).astype(float), 0.6)
    return (np.clip(np.stack([fg, contour]), 0, 1) * 255).astype(np.uint8)


def write_maps(url: str, maps: np.ndarray, channels: list[str] | None = None) -> str:
    provenance = {"stage": "seg-infer", "channels": channels} if channels else None
    axes = "czyx" if maps.ndim == 4 else "zyx"
    ome.create_image(url, maps.shape, maps.dtype, (40, 16, 16), axes=axes, provenance=provenance)[:] = maps
    return url


def decode_cli(*args: str) -> int:
    return run_stage(stage.main, list(args))


def labels_of(url: str, name: str = "instances") -> np.ndarray:
    return ome.open_labels(url, name).array[:]


def test_task_ranges_are_compact_groups_of_blocks(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """On a 1 x 2 x 4 grid a task of 4 blocks is a 2 x 2 square (blocks 0, 1, 4, 5), not a row of the grid: the
    flood's chains cross between tasks less often."""
    url = write_maps(str(tmp_path / "maps.zarr"), ball_maps(shape=(16, 64, 128)), ["foreground", "contour"])
    params = ["--params", json.dumps(SMALL), *BLOCKS]
    assert decode_cli("--predictions", url, *params, "--plan-blocks", "4") == 0
    ranges = json.loads(capsys.readouterr().out)
    assert ranges == ["0:4", "4:8"]
    assert decode_cli("--predictions", url, *params, "--blocks", ranges[0]) == 0
    assert commit.done_blocks(str(tmp_path / "maps.zarr" / "labels" / "instances")) == {0, 1, 4, 5}


def test_whole_and_fanned_out_runs_equal_the_library(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    maps = ball_maps()
    whole = write_maps(str(tmp_path / "whole.zarr"), maps, ["foreground", "contour"])
    fanned = write_maps(str(tmp_path / "fanned.zarr"), maps, ["foreground", "contour"])
    params = ["--params", json.dumps(SMALL), *BLOCKS]
    assert decode_cli("--predictions", whole, *params) == 0
    capsys.readouterr()
    assert decode_cli("--predictions", fanned, *params, "--plan-blocks", "3") == 0
    ranges = json.loads(capsys.readouterr().out)
    assert ranges == ["0:3", "3:6", "6:8"]
    for task in ranges:
        assert decode_cli("--predictions", fanned, *params, "--blocks", task) == 0
    out = str(tmp_path / "fanned.zarr" / "labels" / "instances")
    assert decode_cli("--predictions", fanned, *params, "--flood", "0:3") == 2  # the merge comes first
    assert decode_cli("--predictions", fanned, *params, "--merge") == 0
    assert decode_cli("--predictions", fanned, *params, "--number") == 2  # the flood settles first
    assert decode_cli("--predictions", fanned, *params, "--flood", ranges[0]) == 0
    assert decode_cli("--predictions", fanned, *params, "--settle") == 2  # round 0 has blocks to do
    capsys.readouterr()
    said = []
    while not said or said[-1] == "again":  # rounds, each over every block, until the settle prints done
        for task in ranges:
            assert decode_cli("--predictions", fanned, *params, "--flood", task) == 0
        assert decode_cli("--predictions", fanned, *params, "--settle") == 0
        said.append(capsys.readouterr().out.strip())
    assert len(said) >= 2 and set(said[:-1]) == {"again"} and said[-1] == "done"
    assert commit.read_pass(out, "settle") == {"flood_rounds": len(said)}
    assert decode_cli("--predictions", fanned, *params, "--flood", ranges[0]) == 0  # a late retry: nothing to do
    assert decode_cli("--predictions", fanned, *params, "--settle") == 0 and capsys.readouterr().out == "done\n"
    assert decode_cli("--predictions", fanned, *params, "--apply", "0:3") == 2  # the number comes first
    assert decode_cli("--predictions", fanned, *params, "--number") == 0
    assert commit.read_pass(out, "number") == {"instances": int(decode.bc_watershed(maps, **SMALL).max())}
    for task in ranges[:2]:
        assert decode_cli("--predictions", fanned, *params, "--apply", task) == 0
    assert decode_cli("--predictions", fanned, *params, "--finalise") == 2  # blocks 6:8 are not applied
    assert not commit.is_complete(out)
    assert decode_cli("--predictions", fanned, *params, "--apply", ranges[2]) == 0
    assert decode_cli("--predictions", fanned, *params, "--finalise") == 0
    assert commit.is_complete(out) and commit.read_marker(out)["mode"] == "bc_watershed"
    a, b = labels_of(whole), labels_of(fanned)
    assert a.dtype == np.uint32 and np.array_equal(a, b)
    def scratch(predictions: str) -> list[str]:  # the flood's rounds (one here, several fanned out) leave nothing
        labels = Path(predictions) / "labels" / "instances"
        return sorted(str(p.relative_to(labels)) for p in labels.glob(".*/flood.*"))
    assert scratch(whole) == scratch(fanned) == []
    expected = decode.bc_watershed(maps, **SMALL)
    assert np.unique(a).tolist() == list(range(int(expected.max()) + 1)) and expected.max() > 20
    assert same_partition(a, expected)
    assert "instances" in ome.list_labels(whole)


@pytest.mark.skipif(not (FIXTURES / "bcd_mild.npz").exists(), reason=f"no PyTC fixtures at {FIXTURES}")
def test_fixture_crop_in_eight_blocks_equals_the_library_blockwise_decode(tmp_path: Path) -> None:
    """The stage writes the library's blockwise labels, whose ids are the whole-volume decode's (only
    voxels on exact plateaus may differ: tests/test_decode_blockwise.py)."""
    with np.load(FIXTURES / "bcd_mild.npz") as f:
        maps = np.ascontiguousarray(f["maps"][:, :64, :128, :128])
    url = write_maps(str(tmp_path / "p.zarr"), maps, ["foreground", "contour", "distance"])
    assert decode_cli("--predictions", url, "--name", "cells", "--set", "block=[32,64,64]",
                      "--set", "dtype=uint64") == 0
    labels = labels_of(url, "cells")
    assert labels.dtype == np.uint64
    assert np.array_equal(labels, decode.decode_blockwise(maps, (32, 64, 64), decode.spec("bcd_watershed")))
    whole = decode.bcd_watershed(maps)
    assert labels.max() == whole.max() and np.count_nonzero(labels != whole) < 1e-3 * np.count_nonzero(whole)


def test_small_inclusive_reaches_the_decoder(tmp_path: Path) -> None:
    """An instance of exactly thres_small voxels: removed by default (scikit-image >= 0.26's rule),
    kept with small_inclusive false."""
    labels = np.zeros((16, 32, 32), np.uint16)
    labels[4:8, 4:9, 4:9] = 1                      # 100 voxels
    labels[4:12, 16:26, 16:26] = 2                 # 800 voxels
    maps = np.stack([np.where(labels > 0, 255, 0), np.zeros_like(labels)]).astype(np.uint8)
    params = ["--set", "thres_small=100", "--set", "seed_thres=4", *BLOCKS]
    inclusive = write_maps(str(tmp_path / "a.zarr"), maps, ["foreground", "contour"])
    exclusive = write_maps(str(tmp_path / "b.zarr"), maps, ["foreground", "contour"])
    assert decode_cli("--predictions", inclusive, *params) == 0
    assert decode_cli("--predictions", exclusive, *params, "--set", "small_inclusive=false") == 0
    assert labels_of(inclusive).max() == 1 and labels_of(exclusive).max() == 2
    assert same_partition(labels_of(exclusive), labels)


@pytest.mark.parametrize(
    ("names", "mode"),
    [(["foreground", "contour"], "bc_watershed"), (["foreground", "contour", "signed_distance"], "bcd_watershed"),
     (["B", "C", "D"], "bcd_watershed"), (["foreground"], "binary_watershed"), (None, "bcd_watershed")],
)
def test_auto_mode_from_channel_names(names: list[str] | None, mode: str) -> None:
    assert DecodeOptions().resolve_mode(len(names or "BCD"), names) == mode


def test_auto_mode_from_channel_count_and_float_maps_with_scale(tmp_path: Path) -> None:
    maps = ball_maps(1)
    url = write_maps(str(tmp_path / "float.zarr"), maps.astype(np.float32) / 255)
    assert decode_cli("--predictions", url, "--params", json.dumps({**SMALL, "float_scale": 255}), *BLOCKS) == 0
    out = str(tmp_path / "float.zarr" / "labels" / "instances")
    assert commit.read_marker(out)["mode"] == "bc_watershed"
    assert same_partition(labels_of(url), decode.bc_watershed(maps.astype(np.float32) / 255, float_scale=255, **SMALL))


def test_rerun_is_a_no_op_other_options_exit_2_and_overwrite_redoes(tmp_path: Path, capsys) -> None:
    url = write_maps(str(tmp_path / "p.zarr"), ball_maps(2))
    options = ("--set", "mode=bc_connected", "--set", "thres_small=8")
    assert decode_cli("--predictions", url, *options) == 0
    out = str(tmp_path / "p.zarr" / "labels" / "instances")
    first = commit.read_marker(out)["time"]
    assert decode_cli("--predictions", url, *options) == 0
    assert commit.read_marker(out)["time"] == first
    capsys.readouterr()
    assert decode_cli("--predictions", url, "--set", "mode=bc_connected") == 2
    assert "options.thres_small: 8 -> 128" in capsys.readouterr().err
    assert commit.read_marker(out)["time"] == first
    assert decode_cli("--predictions", url, "--set", "mode=bc_connected", "--overwrite") == 0
    assert commit.read_marker(out)["time"] > first


def _corrupt(url: str) -> str:
    (Path(url) / "zarr.json").write_text("{not json")
    return url


@pytest.mark.parametrize(
    ("make", "flags", "problem"),
    [
        (lambda d: write_maps(d, ball_maps()), ["--set", "mode=bcd_watershed"], "needs 3 channel"),
        (lambda d: write_maps(d, ball_maps(), ["foreground", "contour", "distance"]), [], "name 3 channels"),
        (lambda d: write_maps(d, ball_maps()[:1].repeat(4, 0)), [], "cannot pick a decoder"),
        (lambda d: write_maps(d, ball_maps().astype(np.float32)), [], "float_scale"),
        (lambda d: write_maps(d, ball_maps().astype(np.uint16)), ["--set", "float_scale=1"], "not uint8"),
        (lambda d: write_maps(d, ball_maps()[0]), [], "not (C, Z, Y, X)"),
        (lambda d: d + "-missing", [], "no OME-Zarr image"),
        (lambda d: _corrupt(write_maps(d, ball_maps())), [], "unreadable metadata"),
        (lambda d: write_maps(d, ball_maps()), ["--set", "thres1=1.5"], "thres1"),
        (lambda d: write_maps(d, ball_maps()), ["--set", "thres4=0.5"], "has no thres4"),
        (lambda d: write_maps(d, ball_maps()), ["--set", "block=[0,4,4]"], "empty axis"),
        (lambda d: write_maps(d, ball_maps()), ["--set", "colour=red"], "unknown config key 'colour'"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture, make, flags: list[str],
                                              problem: str) -> None:
    url = make(str(tmp_path / "p.zarr"))
    assert decode_cli("--predictions", url, *flags) == 2
    err = capsys.readouterr().err.strip()
    assert problem in err and err.startswith("error:") and "-- fix:" in err and "\n" not in err
    assert not (Path(url) / "labels").exists()


def test_command_line_entry_point(tmp_path: Path) -> None:
    url = write_maps(str(tmp_path / "p.zarr"), ball_maps(), ["foreground", "contour"])
    bad = run_cli("decode", "--predictions", url, "--set", "mode=bcd_watershed")
    assert bad.code == 2 and "needs 3 channel" in bad.stderr
    done = run_cli("decode", "--predictions", url, "--params", json.dumps(SMALL))
    assert done.code == 0, done.stderr
    assert same_partition(labels_of(url), decode.bc_watershed(ball_maps(), **SMALL))


def test_decode_state_keeps_the_recently_read_parts_within_its_byte_budget(tmp_path: Path, monkeypatch) -> None:
    """A flood task reads its blocks' and their neighbours' parts once per sweep: it keeps the most recently read
    ones up to ``CACHE_BYTES`` and reads the others again."""
    monkeypatch.setattr(store, "CACHE_BYTES", 3 * 8000)
    state = store.StoreState(str(tmp_path / "labels"))
    for k in range(5):
        state.save("flood.0", k, {"value": np.full(1000, k, np.int64)})
    for k in range(5):
        assert state.load("flood.0", k)["value"][0] == k
    assert list(state.cache) == [("flood.0", 2), ("flood.0", 3), ("flood.0", 4)] and state.cached_bytes == 24000
    state.load("flood.0", 2)
    state.load("flood.0", 0)
    assert list(state.cache) == [("flood.0", 4), ("flood.0", 2), ("flood.0", 0)] and state.cached_bytes == 24000
