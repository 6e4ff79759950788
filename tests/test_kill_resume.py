"""A stage killed with SIGKILL mid-write leaves nothing that looks complete; the re-run finishes it and the
result is identical to an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import tifffile
from conftest import REPO, run_cli
from em2exm import commit, ome


def test_sigkill_mid_write_then_resume(tmp_path):
    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, (128, 128, 128), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "big.tif", image)
    args = ["ingest", "--image", str(tmp_path / "big.tif"), "--voxel-size", "1", "1", "1", "--set", "chunks=[4,16,16]"]
    killed, clean = tmp_path / "killed.zarr", tmp_path / "clean.zarr"

    process = subprocess.Popen([sys.executable, "-m", "em2exm", *args, "--output", str(killed)], cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    chunk_dir = killed / "0" / "c"
    deadline = time.monotonic() + 120
    while not (chunk_dir.exists() and any(chunk_dir.iterdir())):
        assert process.poll() is None, "the stage finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()

    assert killed.exists() and not commit.is_complete(str(killed))
    resumed = run_cli(*args, "--output", str(killed))
    assert resumed.code == 0, resumed.stderr
    assert run_cli(*args, "--output", str(clean)).code == 0
    assert commit.is_complete(str(killed))
    assert np.array_equal(ome.open_image(str(killed)).array[:], ome.open_image(str(clean)).array[:])
