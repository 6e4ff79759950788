"""bench/scale.py end to end at a tiny size: a briefly trained light U-Net, two volumes of 0.5 and 1 M voxels, every
stage fanned out in parallel block tasks, and the JSON it writes (voxels/s, peak RSS per task, decode's state)."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]
STAGES = ("labels", "simulate-exm", "seg-infer", "decode", "evaluate")


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_scale", REPO / "bench" / "scale.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_sizes_are_shapes():
    bench = load_bench()
    assert bench.parse_size("64M") == (256, 512, 512) and math.prod(bench.parse_size("1G")) >= 10**9
    assert bench.parse_size("32x64x96") == (32, 64, 96)
    assert math.prod(bench.parse_size("2M")) >= 2 * 10**6
    assert all(s % 64 == 0 for s in bench.parse_size("3M"))
    with pytest.raises(SystemExit):
        bench.parse_size("12Q")


def test_the_bench_runs_decode_passes_as_the_spec_lists_them():
    from em2exm.specs import spec

    assert load_bench().DECODE_PASSES == tuple((p.name, p.fanned, p.settles) for p in spec("decode").passes)


def test_synthetic_labels_do_not_depend_on_the_blocks():
    bench = load_bench()
    import numpy as np
    from em2exm.tiling import tile

    shape = (40, 70, 90)
    grid, seeds, ids = bench.synthetic_cells(shape, 0)
    kernel = bench._voronoi_kernel()
    whole = np.zeros(shape, np.uint32)
    kernel(np.zeros(3, np.int64), whole, np.array(bench.CELL, np.int64), grid, seeds, ids)
    pieces = np.zeros(shape, np.uint32)
    for box in tile(shape, (16, 32, 32)):
        out = np.zeros(tuple(s.stop - s.start for s in box), np.uint32)
        kernel(np.array([s.start for s in box], np.int64), out, np.array(bench.CELL, np.int64), grid, seeds, ids)
        pieces[box] = out
    np.testing.assert_array_equal(pieces, whole)
    assert len(np.unique(whole)) > 10


@pytest.mark.slow
def test_scale_bench_runs_every_stage(tmp_path: Path):
    out = tmp_path / "scale.json"
    args = [sys.executable, str(REPO / "bench" / "scale.py"), "--sizes", "32x128x128,64x128x128",
            "--store", str(tmp_path / "store"), "--json", str(out), "--block", "32,64,64", "--infer-block", "32,64,64",
            "--eval-block", "32,64,64", "--per-task", "2", "--window", "5,17,17", "--patch", "5,17,17",
            "--train-shape", "16,64,64", "--train-iterations", "2", "--sweep-size", "32x128x128",
            "--sweep-blocks", "32,128,128"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result == json.loads(done.stdout)
    assert result["machine"]["cores"] >= 1 and result["commit"] and result["rss_floor_mib"]["python"] > 0
    small, large = result["sizes"]
    assert large["voxels"] == 64 * 128 * 128 and large["shape"] == [64, 128, 128]
    for size in (small, large):
        assert tuple(size["stages"]) == STAGES
        for name, row in size["stages"].items():
            assert row["voxels"] == size["voxels"] and row["wall_s"] > 0 and row["voxels_per_s"] > 0, name
        blocks = 2 * 2 if size is small else 2 * 2 * 2
        assert size["stages"]["decode"]["blocks"] == blocks and size["stages"]["decode"]["block_tasks"] == blocks // 2
        assert size["stages"]["decode"]["state_objects"] == blocks
        assert 0 < size["stages"]["seg-infer"]["task_rss_mib_max"] < 4096
        decode = size["stages"]["decode"]
        assert decode["merge_rss_mib"] > 0 and decode["apply_wall_s"] > 0 and decode["finalise_rss_mib"] > 0
        assert decode["flood_task_rss_mib_max"] > 0 and decode["number_rss_mib"] > 0 and decode["flood_rounds"] >= 1
        assert decode["settle_s"] > 0 and decode["settle_rss_mib"] > 0
        assert decode["speedup_with_tasks"]["2"] > 1 and decode["serial_s"] > 0
        assert 0 < decode["longest_task_s"]["flood"] <= decode["fanned_task_s"]
        assert size["stages"]["evaluate"]["block_tasks"] == blocks // 2  # eval blocks are decode's here, 2 per task
        assert size["objects_written"]["decode"] > 0 and size["metrics"]["n_groundtruth"] > 0
    assert [s["blocks"] for s in small["decode_block_sweep"]] == [1] and large["decode_block_sweep"] == []
    assert result["scaling"]["voxels"] == 2.0 and "task_rss_mib_max" in result["scaling"]["decode"]
    assert not (tmp_path / "store" / "64x128x128").exists()  # removed without --keep
    assert "| decode |" in done.stderr
