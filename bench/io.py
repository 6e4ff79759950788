"""Write/read throughput of a 256^3 uint8 OME-Zarr volume in 64^3 chunks, local disk and S3 (SeaweedFS).

Prints JSON.  Usage: python bench/io.py [--size 256] [--chunk 64] [--no-s3]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from em2exm import ome  # noqa: E402


def measure(url: str, data: np.ndarray, chunk: int, repeats: int = 3) -> dict[str, float]:
    """Best-of-``repeats`` write and read MB/s for ``data`` at ``url``."""
    megabytes = data.nbytes / 1e6
    writes, reads = [], []
    for _ in range(repeats):
        array = ome.create_image(url, data.shape, data.dtype, (1, 1, 1), chunks=(chunk,) * 3)
        start = time.perf_counter()
        array[:] = data
        writes.append(time.perf_counter() - start)
        start = time.perf_counter()
        back = ome.open_image(url).array[:]
        reads.append(time.perf_counter() - start)
        assert np.array_equal(back, data)
    return {"write_MB_s": round(megabytes / min(writes), 1), "read_MB_s": round(megabytes / min(reads), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--chunk", type=int, default=64)
    parser.add_argument("--no-s3", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    # smooth-ish data so the compressor does real work (pure noise does not compress, zeros are trivial)
    data = (rng.integers(0, 32, (args.size,) * 3, dtype=np.uint8) + np.arange(args.size, dtype=np.uint8)[:, None, None])
    result = {"shape": list(data.shape), "chunks": [args.chunk] * 3, "MB": round(data.nbytes / 1e6, 1)}
    with tempfile.TemporaryDirectory() as tmp:
        result["local"] = measure(os.path.join(tmp, "v.zarr"), data, args.chunk)
        if not args.no_s3:
            (Path(tmp) / "seaweedfs").mkdir()
            result["s3"] = _with_s3(lambda env: measure(f"s3://em2exm/{uuid.uuid4().hex}/v.zarr", data, args.chunk), Path(tmp))
    print(json.dumps(result, indent=1))


def _with_s3(work, tmp: Path) -> dict[str, float]:
    """Run ``work`` against a SeaweedFS server started for the benchmark."""
    from s3server import seaweedfs

    with seaweedfs(tmp / "seaweedfs") as server:
        os.environ.update(server.env)
        return work(server.env)


if __name__ == "__main__":
    main()
