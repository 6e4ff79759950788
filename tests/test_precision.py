"""Mixed precision: which autocast dtype training uses where, and that CPU bf16 training really runs in bf16."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from em2exm.ccgan.config import CCGANConfig
from em2exm.ccgan.trainer import CCGANTrainer
from em2exm.precision import autocast, autocast_dtype, cpu_has_native_bf16

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


def test_autocast_dtype_per_device() -> None:
    assert autocast_dtype(CPU, False) is None and autocast_dtype(CUDA, False) is None
    assert autocast_dtype(CUDA, True) == torch.bfloat16
    assert autocast_dtype(CUDA, True, torch.float16) == torch.float16
    assert autocast_dtype(CPU, True) == (torch.bfloat16 if cpu_has_native_bf16() else None)


def test_autocast_context_runs_convolutions_in_that_dtype() -> None:
    conv, x = torch.nn.Conv2d(1, 2, 3), torch.ones(1, 1, 5, 5)
    with autocast(CPU, torch.bfloat16):
        assert conv(x).dtype == torch.bfloat16
    with autocast(CPU, None):
        assert conv(x).dtype == torch.float32


@pytest.mark.parametrize("dims", [2, 3])
def test_ccgan_trains_under_cpu_autocast_with_float32_weights(dims: int) -> None:
    """The trainer's own choice; in 3D the channels-last split-backward convolutions step aside under autocast."""
    patch = (32, 32) if dims == 2 else (12, 24, 24)
    config = CCGANConfig(dims=dims, patch=patch, ngf=4, ndf=4, netG="resnet_6blocks", seg_head=True, seg_target="bc")
    trainer = CCGANTrainer(config, "cpu")
    assert trainer.amp_dtype == autocast_dtype(CPU, True)
    rng = np.random.default_rng(0)
    batch = {"A": rng.uniform(-1, 1, (1, 1, *patch)).astype(np.float32),
             "B": rng.uniform(-1, 1, (1, 1, *patch)).astype(np.float32),
             "seg": (rng.random((1, 2, *patch)) > 0.5).astype(np.float32)}
    losses = trainer.step(batch)
    assert all(np.isfinite(v) for v in losses.values())
    assert all(p.dtype == torch.float32 for p in trainer.nets.parameters())
    expected = trainer.amp_dtype or torch.float32
    assert trainer.visuals["fake_B"].dtype == expected
