"""Does bfloat16 autocast keep CycleGAN training quality? Loss curves of fp32 and bf16 runs on the demo data.

Trains the demo's CycleGAN (configs/demo.yaml's ccgan section, seg head on) on the bundled EM (A) and the
confocal ovule (B) for ``--iters`` iterations, once per seed in fp32 and once per seed with autocast
(em2exm.precision), and compares the mean of every loss term over windows of ``--window`` iterations: bf16 keeps
quality when, for every term, the bf16 curve's mean shift from the fp32 curve (means over seeds, averaged over the
windows) is within fp32's run-to-run standard deviation (averaged over the windows). Prints JSON: per term both
curves, the deviation, every run, the shift and a verdict.

    .venv/bin/python bench/ccgan_amp_quality.py [--iters 500] [--seeds 0,1,2] [--window 100] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import tifffile
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "shared"))

from em2exm.ccgan.config import CCGANConfig  # noqa: E402
from em2exm.ccgan.sampler import PatchSampler  # noqa: E402
from em2exm.ccgan.trainer import CCGANTrainer  # noqa: E402
from em2exm.precision import cpu_has_native_bf16  # noqa: E402

DATA = ROOT / "data" / "demo"


def demo_config(seed: int, amp: bool) -> CCGANConfig:
    """The demo's CycleGAN with its segmentation head on (the seg_match experiment)."""
    section = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())["ccgan"]
    return CCGANConfig(**{**section, "log_interval": 10**6}, seg_head=True, seed=seed, amp=amp)


def curve(config: CCGANConfig, iters: int, device: str) -> tuple[list[dict[str, float]], float]:
    """Loss records of one training run and its seconds per iteration."""
    em = tifffile.imread(DATA / "gala_fibsem_train" / "raw.tif")
    labels = tifffile.imread(DATA / "gala_fibsem_train" / "labels.tif")
    exm = tifffile.imread(DATA / "plantseg_ovule" / "raw.tif")
    sampler = PatchSampler(em, labels, exm, config, np.random.default_rng(config.seed))
    trainer = CCGANTrainer(config, device)
    records, start = [], time.perf_counter()
    for _ in range(iters):
        records.append(trainer.step(sampler.sample()))
    return records, (time.perf_counter() - start) / iters


def window_means(records: list[dict[str, float]], window: int) -> dict[str, list[float]]:
    """Mean of each loss term per window of iterations."""
    terms = [k for k in records[0] if k != "lr"]
    return {
        k: [float(np.mean([r[k] for r in records[i : i + window]])) for i in range(0, len(records), window)]
        for k in terms
    }


def compare(fp32: list[dict[str, list[float]]], bf16: list[dict[str, list[float]]]) -> dict[str, dict]:
    """Per term: both curves (means over seeds per window), fp32's run-to-run standard deviation per window, and
    whether bf16 shifts the curve: its mean difference over the windows must stay within the mean deviation."""
    result = {}
    for term in fp32[0]:
        runs32, runs16 = np.array([r[term] for r in fp32]), np.array([r[term] for r in bf16])
        mean32, mean16, spread = runs32.mean(0), runs16.mean(0), runs32.std(0, ddof=1)
        shift = float((mean16 - mean32).mean())
        result[term] = {
            "fp32_mean": np.round(mean32, 4).tolist(),
            "fp32_sd": np.round(spread, 4).tolist(),
            "bf16_mean": np.round(mean16, 4).tolist(),
            "fp32_runs": np.round(runs32, 4).tolist(),
            "bf16_runs": np.round(runs16, 4).tolist(),
            "shift": round(shift, 4),
            "within_spread": abs(shift) <= float(spread.mean()),
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=500)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.device == "cpu" and not cpu_has_native_bf16():
        sys.exit("this CPU has no native bfloat16 (AVX512-BF16/AMX): em2exm trains in float32 here")
    seeds = [int(s) for s in args.seeds.split(",")]
    runs: dict[str, list[dict[str, list[float]]]] = {"fp32": [], "bf16": []}
    seconds: dict[str, list[float]] = {"fp32": [], "bf16": []}
    for seed in seeds:
        for name, amp in (("fp32", False), ("bf16", True)):
            records, per_iter = curve(demo_config(seed, amp), args.iters, args.device)
            runs[name].append(window_means(records, args.window))
            seconds[name].append(per_iter)
            print(json.dumps({"seed": seed, "precision": name, "s_per_iter": round(per_iter, 4)}), file=sys.stderr)
    terms = compare(runs["fp32"], runs["bf16"])
    print(json.dumps({
        "info": {"torch": torch.__version__, "threads": args.threads, "device": args.device, "iters": args.iters,
                 "seeds": seeds, "window": args.window},
        "s_per_iter": {k: round(float(np.median(v)), 4) for k, v in seconds.items()},
        "all_within_spread": all(t["within_spread"] for t in terms.values()),
        "terms": terms,
    }, indent=1))


if __name__ == "__main__":
    main()
