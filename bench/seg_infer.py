"""Sliding-window inference speed and memory for the ``pytc`` U-Net preset; prints one JSON object.

* throughput: a 64 x 256 x 256 uint8 volume, window 32 x 128 x 128, overlap 0.5 (27 windows), 3 output maps;
  ``voxels_per_s`` counts output voxels per wall second (whole pipeline: read, predict, blend, uint8),
  ``window_voxels_per_s`` counts voxels through the network. ``naive`` is the unoptimised path
  (BN unfused, contiguous layout, one window per forward, default allocator) on the same windows.
* memory: peak RSS of fresh processes running the same settings blockwise (blocks 32 x 128 x 128) from and
  to zarr arrays on disk, for two volume sizes; it should not grow with the volume. ``peak_rss_mib`` of the
  throughput runs covers this whole process (naive and optimised).
PyTC v1.0 measured 72.6 k voxels/s on this 2-core CPU.

Usage: PYTHONPATH=shared python bench/seg_infer.py [--threads N ...] [--no-naive] [--no-memory]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from em2exm.seg.blocks import BlockPlan, infer_volume
from em2exm.seg.heads import activate, normalize_image
from em2exm.seg.predict import Predictor
from em2exm.seg.runtime import keep_freed_memory
from em2exm.seg.unet import build_unet
from em2exm.seg.window import SlidingWindow

SHAPE = (64, 256, 256)
WINDOW = SlidingWindow.from_overlap((32, 128, 128), 0.5)
MEMORY_SHAPES = [(32, 256, 256), (32, 256, 512)]
MEMORY_BLOCK = (32, 128, 128)


def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_unet("pytc", 3).eval()


def volume(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def optimised(vol: np.ndarray, device: str, batch: int) -> tuple[float, int]:
    predictor = Predictor(model(), "bcd", batch_size=batch, device=device)
    plan = BlockPlan(vol.shape, vol.shape, WINDOW, batch)
    predictor(np.zeros((batch, *WINDOW.size), np.float32))  # warm-up
    start = time.perf_counter()
    infer_volume(predictor, vol, plan)
    windows = sum(len(b) for b in plan[0].batches)
    return time.perf_counter() - start, windows


@torch.no_grad()
def naive(vol: np.ndarray) -> float:
    """PyTC-style loop: eval model as trained, float32 NCDHW, one window per forward."""
    net, weight = model(), WINDOW.weights()
    image = normalize_image(vol)
    acc, total = np.zeros((3, *vol.shape), np.float32), np.zeros(vol.shape, np.float32)
    start = time.perf_counter()
    for z in WINDOW.starts(vol.shape)[0]:
        for y in WINDOW.starts(vol.shape)[1]:
            for x in WINDOW.starts(vol.shape)[2]:
                box = tuple(slice(a, a + n) for a, n in zip((z, y, x), WINDOW.size))
                out = activate(net(torch.from_numpy(np.ascontiguousarray(image[box]))[None, None]), "bcd")[0].numpy()
                acc[(slice(None), *box)] += out * weight
                total[box] += weight
    (acc / total * 255).astype(np.uint8)
    return time.perf_counter() - start


def peak_rss_mib() -> int:
    """VmHWM of this process (unlike ru_maxrss, not inherited from the parent across fork/exec)."""
    with open("/proc/self/status") as status:
        kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    return round(kib / 1024)


def memory_child(shape: tuple[int, int, int]) -> None:
    """Blockwise zarr -> zarr run; prints peak RSS (MiB) before and after inference."""
    import zarr

    keep_freed_memory()
    with tempfile.TemporaryDirectory() as tmp:
        src = zarr.create_array(f"{tmp}/in.zarr", shape=shape, chunks=MEMORY_BLOCK, dtype="uint8")
        for z in range(0, shape[0], MEMORY_BLOCK[0]):
            for y in range(0, shape[1], MEMORY_BLOCK[1]):
                src[z : z + MEMORY_BLOCK[0], y : y + MEMORY_BLOCK[1]] = volume(
                    (MEMORY_BLOCK[0], MEMORY_BLOCK[1], shape[2]), y
                )
        dst = zarr.create_array(f"{tmp}/out.zarr", shape=(3, *shape), chunks=(3, *MEMORY_BLOCK), dtype="uint8")
        predictor = Predictor(model(), "bcd", batch_size=2, device="cpu")
        idle = peak_rss_mib()
        plan = BlockPlan(shape, MEMORY_BLOCK, WINDOW, 2)
        start = time.perf_counter()
        infer_volume(predictor, src, plan, out=dst)
        peak = peak_rss_mib()
        print(
            json.dumps(
                {
                    "shape": shape,
                    "blocks": len(plan),
                    "seconds": round(time.perf_counter() - start, 1),
                    "peak_rss_mib_before": idle,
                    "peak_rss_mib": peak,
                }
            )
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, nargs="*", default=[torch.get_num_threads()])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--no-naive", action="store_true")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--memory-child", type=int, nargs=3)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(tuple(args.memory_child))
        return
    report: dict = {
        "volume": SHAPE,
        "window": WINDOW.size,
        "stride": WINDOW.stride,
        "preset": "pytc",
        "loadavg_before": os.getloadavg()[0],
        "cpu": {},
    }
    vol = volume(SHAPE)
    voxels = int(np.prod(SHAPE))
    if not args.no_naive:
        seconds = naive(vol)
        report["cpu"]["naive"] = {"seconds": round(seconds, 1), "voxels_per_s": round(voxels / seconds)}
    keep_freed_memory()
    for threads in args.threads:
        torch.set_num_threads(threads)
        seconds, windows = optimised(vol, "cpu", args.batch)
        report["cpu"][f"optimised_{threads}_threads"] = {
            "seconds": round(seconds, 1),
            "voxels_per_s": round(voxels / seconds),
            "window_voxels_per_s": round(windows * int(np.prod(WINDOW.size)) / seconds),
            "windows": windows,
        }
    if torch.cuda.is_available():
        seconds, windows = optimised(vol, "cuda", 8)
        report["cuda"] = {
            "device": torch.cuda.get_device_name(),
            "seconds": round(seconds, 2),
            "voxels_per_s": round(voxels / seconds),
            "bf16": True,
            "batch": 8,
            "peak_gpu_mib": round(torch.cuda.max_memory_allocated() / 2**20),
        }
    report["cpu"]["peak_rss_mib"] = peak_rss_mib()
    if not args.no_memory:
        report["blockwise_memory"] = [
            json.loads(
                subprocess.run(
                    [sys.executable, __file__, "--memory-child", *map(str, shape)],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
            )
            for shape in MEMORY_SHAPES
        ]
    report["loadavg_after"] = os.getloadavg()[0]
    print(json.dumps(report))


if __name__ == "__main__":
    main()
