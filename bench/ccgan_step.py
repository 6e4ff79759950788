"""Seconds per full CycleGAN iteration (G and D forward, backward, step) of em2exm.ccgan.

Cases: 2D resnet_9blocks (ngf 64, ndf 64, n_layers 3, batch 1) on 1x1x128x128, and 3D on 1x1x17x65x65 and
1x1x16x64x64, no segmentation head (the plain CycleGAN the reference runs). em2exm trains as configured by
default: bfloat16 autocast where the CPU has native bf16 (em2exm.precision), else float32. ``--reference`` also
times the reference's iteration order on the same networks and machine (float32, separate passes for fakes,
identities and each discriminator input, NCHW tensors, single-tensor Adam) for a same-conditions speedup; ``--plain-conv``
times em2exm with plain ``nn.Conv2d``/``nn.Conv3d`` (no split CPU backward, see em2exm.ccgan.conv). Prints JSON.

    .venv/bin/python bench/ccgan_step.py [--cases 2d_128,3d_17x65x65,3d_16x64x64] [--iters 5] [--threads 2]
                                         [--device cpu|cuda] [--reference] [--plain-conv]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "shared"))

from em2exm.ccgan.config import CCGANConfig  # noqa: E402
from em2exm.ccgan.conv import Conv2d, Conv3d  # noqa: E402
from em2exm.ccgan.layers import InstanceNorm  # noqa: E402
from em2exm.ccgan.losses import gan_loss  # noqa: E402
from em2exm.ccgan.trainer import CCGANTrainer  # noqa: E402
from em2exm.precision import cpu_has_native_bf16  # noqa: E402

CASES: dict[str, tuple[int, tuple[int, ...]]] = {
    "2d_128": (2, (128, 128)),
    "3d_17x65x65": (3, (17, 65, 65)),
    "3d_16x64x64": (3, (16, 64, 64)),
}


def reference_step(trainer: CCGANTrainer, batch: dict[str, torch.Tensor]) -> None:
    """The reference ``optimize_parameters``: forward, G update with D frozen, D_A and D_B updates."""
    c, nets = trainer.config, trainer.nets
    real_a, real_b = batch["A"], batch["B"]
    fake_b = nets["G_A"](real_a)[0]
    rec_a = nets["G_B"](fake_b)[0]
    fake_a = nets["G_B"](real_b)[0]
    rec_b = nets["G_A"](fake_a)[0]
    for p in trainer.discriminators:
        p.requires_grad_(False)
    trainer.optimizers["G"].zero_grad()
    idt_a = nets["G_A"](real_b)[0]
    idt_b = nets["G_B"](real_a)[0]
    loss = (
        gan_loss(nets["D_A"](fake_b), True, c.gan_mode)
        + gan_loss(nets["D_B"](fake_a), True, c.gan_mode)
        + torch.nn.functional.l1_loss(rec_a, real_a) * c.lambda_A
        + torch.nn.functional.l1_loss(rec_b, real_b) * c.lambda_B
        + torch.nn.functional.l1_loss(idt_a, real_b) * c.lambda_B * c.lambda_identity
        + torch.nn.functional.l1_loss(idt_b, real_a) * c.lambda_A * c.lambda_identity
    )
    loss.backward()
    trainer.optimizers["G"].step()
    for p in trainer.discriminators:
        p.requires_grad_(True)
    trainer.optimizers["D"].zero_grad()
    for name, real, fake, pool in (("D_A", real_b, fake_b, "fake_B"), ("D_B", real_a, fake_a, "fake_A")):
        fake = trainer.pools[pool].query(fake)
        d = nets[name]
        loss_d = (gan_loss(d(real), True, c.gan_mode) + gan_loss(d(fake.detach()), False, c.gan_mode)) * 0.5
        loss_d.backward()
    trainer.optimizers["D"].step()


def plain_convs(trainer: CCGANTrainer) -> None:
    """Turn em2exm's split-backward convolutions back into ``nn.Conv2d`` / ``nn.Conv3d`` (same parameters)."""
    for module in trainer.nets.modules():
        if isinstance(module, (Conv2d, Conv3d)):
            module.__class__ = nn.Conv2d if isinstance(module, Conv2d) else nn.Conv3d


def make_trainer(dims: int, patch: tuple[int, ...], device: str, reference: bool) -> CCGANTrainer:
    config = CCGANConfig(dims=dims, patch=patch, seg_head=False, channels_last=False if reference else None,
                         lambda_identity=0.5)  # the reference's identity passes, for a same-work comparison
    trainer = CCGANTrainer(config, device)
    if reference:
        plain_convs(trainer)
        norm = nn.InstanceNorm2d if dims == 2 else nn.InstanceNorm3d
        for net in trainer.nets.values():
            for module in list(net.modules()):
                for name, child in module.named_children():
                    if isinstance(child, InstanceNorm):
                        setattr(module, name, norm(child.num_features, affine=False))
        adam = {"lr": config.lr, "betas": (config.beta1, config.beta2)}
        trainer.optimizers = {
            "G": torch.optim.Adam(trainer.generators, **adam),
            "D": torch.optim.Adam(trainer.discriminators, **adam),
        }
    return trainer


def time_case(
    dims: int, patch: tuple[int, ...], device: str, iters: int, reference: bool, plain: bool
) -> dict[str, list[float]]:
    """Seconds per iteration after two warm-up iterations; the implementations asked for run alternately."""
    rng = np.random.default_rng(0)
    shape = (1, 1, *patch)
    batches = [
        {k: torch.from_numpy(rng.uniform(-1, 1, shape).astype(np.float32)).to(device) for k in ("A", "B")}
        for _ in range(2)
    ]
    steps = {"em2exm": make_trainer(dims, patch, device, False).step}
    if reference:
        trainer = make_trainer(dims, patch, device, True)
        steps["reference"] = lambda batch: reference_step(trainer, batch)
    if plain:
        plain_trainer = make_trainer(dims, patch, device, False)
        plain_convs(plain_trainer)
        steps["plain_conv"] = plain_trainer.step
    times: dict[str, list[float]] = {name: [] for name in steps}
    for i in range(iters + 2):
        for name, step in steps.items():
            sync(device)
            start = time.perf_counter()
            step(batches[i % 2])
            sync(device)
            times[name].append(time.perf_counter() - start)
    return {name: t[2:] for name, t in times.items()}


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--device", default=None, help="cpu or cuda (default: both where available)")
    parser.add_argument("--reference", action="store_true", help="also time the reference implementation, interleaved")
    parser.add_argument("--plain-conv", action="store_true", help="also time em2exm without the split conv backward")
    args = parser.parse_args()
    unknown = sorted(set(args.cases.split(",")) - set(CASES))
    if unknown:
        parser.error(f"unknown case {unknown[0]}; choose from {','.join(CASES)}")
    torch.set_num_threads(args.threads)
    devices = [args.device] if args.device else ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    results = []
    for device in devices:
        for name in args.cases.split(","):
            dims, patch = CASES[name]
            timings = time_case(dims, patch, device, args.iters, args.reference, args.plain_conv)
            row = {"case": name, "device": device, "iters": args.iters}
            for impl, times in timings.items():
                row[f"{impl}_s_per_iter_median"] = round(statistics.median(times), 4)
                row[f"{impl}_s_per_iter_min"] = round(min(times), 4)
            if args.reference:
                row["speedup_median"] = round(row["reference_s_per_iter_median"] / row["em2exm_s_per_iter_median"], 3)
            results.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    info = {"torch": torch.__version__, "threads": args.threads, "cpu": platform.processor() or platform.machine(),
            "em2exm_cpu_autocast": "bfloat16" if cpu_has_native_bf16() else "off (no native bf16)"}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    print(json.dumps({"info": info, "results": results}, indent=1))


if __name__ == "__main__":
    main()
