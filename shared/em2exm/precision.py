"""Mixed precision for training: bfloat16 (or float16) autocast on CUDA, bfloat16 on CPUs that compute it natively.

On a CPU with native bfloat16 (AVX512-BF16 or AMX, by torch.cpu's feature checks) autocast runs convolutions and matmuls in
bfloat16 with float32 weights and optimiser state: measured on a 2-core AVX512-BF16 EPYC (torch 2.13), a 2D
resnet_9blocks CycleGAN iteration at 128^2 went from 3.2 to 1.4 s and a light U-Net step (2 x 9 x 49 x 49) from
0.23 to 0.10 s; bench/ccgan_amp_quality.py checks that training curves stay within fp32's run-to-run spread.
Without native support bfloat16 is emulated and slower than float32, so autocast stays off there.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from functools import cache
from typing import Any

import torch


@cache
def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX) for oneDNN. (oneDNN's own check also
    accepts plain AVX-512, where bf16 is emulated and slower than float32.)"""
    try:
        native = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
        return bool(native and torch.backends.mkldnn.is_available())
    except (AttributeError, RuntimeError):
        return False


def autocast_dtype(device: torch.device, enabled: bool, cuda_dtype: torch.dtype = torch.bfloat16) -> torch.dtype | None:
    """The autocast dtype training on ``device`` uses, or None for float32."""
    if not enabled:
        return None
    if device.type == "cuda":
        return cuda_dtype
    if device.type == "cpu" and cpu_has_native_bf16():
        return torch.bfloat16
    return None


def autocast(device: torch.device, dtype: torch.dtype | None) -> AbstractContextManager[Any]:
    """An autocast context for ``dtype`` on ``device`` (a no-op for None)."""
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()
