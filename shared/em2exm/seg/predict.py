"""Batched window prediction: an inference copy of the model (BN folded, channels-last), optional flip TTA."""

from __future__ import annotations

import copy
import itertools
from contextlib import nullcontext
from typing import Any

import numpy as np
import torch
from torch import nn

from em2exm.seg.heads import Target, activate
from em2exm.seg.unet import fuse_batchnorm

TTA_CHOICES = (1, 4, 8, 16)  # PyTC: none; x/y flips; + y/x transpose; + z flip


def _tta_variants(tta: int) -> list[tuple[bool, bool, bool, bool]]:
    """PyTC TestAugmentor order: (xflip, yflip, zflip, transpose) over a product of options."""
    if tta not in TTA_CHOICES:
        raise ValueError(f"tta must be one of {TTA_CHOICES}")
    x = y = (False, True) if tta >= 4 else (False,)
    z = (False, True) if tta == 16 else (False,)
    t = (False, True) if tta >= 8 else (False,)
    return list(itertools.product(x, y, z, t))


class Predictor:
    """Runs windows through the model in fixed-size batches and returns [0, 1] maps per target channel.

    Every forward pass has exactly ``batch_size`` windows (the last batch is padded with copies), so a
    window's output does not depend on how many windows a caller asks for at once.
    """

    def __init__(
        self,
        model: nn.Module,
        target: Target,
        batch_size: int = 2,
        tta: int = 1,
        device: str | torch.device | None = None,
        bf16: bool | None = None,
    ) -> None:
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        # torch's stubs: Module.to takes memory_format (documented, accepted) but no overload lists it
        self.model = fuse_batchnorm(copy.deepcopy(model)).to(self.device, memory_format=torch.channels_last_3d)  # type: ignore[call-overload]
        self.target = target
        self.batch_size = batch_size
        self.variants = _tta_variants(tta)
        self.bf16 = self.device.type == "cuda" if bf16 is None else bf16

    def _autocast(self) -> Any:
        if self.bf16:
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return nullcontext()

    @torch.inference_mode()
    def __call__(self, windows: np.ndarray) -> np.ndarray:
        """(N, Z, Y, X) normalised float32 windows -> (N, C, Z, Y, X) float32 maps."""
        outputs = []
        for i in range(0, len(windows), self.batch_size):
            chunk = windows[i : i + self.batch_size]
            filler = [chunk[-1:]] * (self.batch_size - len(chunk))
            x = torch.from_numpy(np.concatenate([chunk, *filler])[:, None]).to(self.device)
            outputs.append(self._predict(x)[: len(chunk)].cpu().numpy())
        return np.concatenate(outputs)

    def _predict(self, x: torch.Tensor) -> torch.Tensor:
        total: torch.Tensor | None = None
        for xflip, yflip, zflip, transpose in self.variants:
            dims = [d for d, on in ((4, xflip), (3, yflip), (2, zflip)) if on]
            v = torch.flip(x, dims) if dims else x
            if transpose:
                v = v.transpose(3, 4)
            with self._autocast():
                logits = self.model(v.contiguous(memory_format=torch.channels_last_3d))
            out = activate(logits.float(), self.target)
            if transpose:
                out = out.transpose(3, 4)
            if dims:
                out = torch.flip(out, dims)
            total = out if total is None else total + out
        assert total is not None  # _tta_variants gives at least one variant
        return total / len(self.variants)
