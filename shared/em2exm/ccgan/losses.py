"""GAN objectives (LSGAN, vanilla) and the segmentation-matching loss."""

from __future__ import annotations

import torch
from torch.nn.functional import binary_cross_entropy_with_logits, l1_loss, mse_loss


def gan_loss(prediction: torch.Tensor, real: bool, mode: str) -> torch.Tensor:
    """Reference ``GANLoss``: MSE to 1/0 (lsgan) or BCE-with-logits (vanilla), averaged over the patch map."""
    prediction = prediction.float()
    target = torch.full_like(prediction, 1.0 if real else 0.0)
    if mode == "lsgan":
        return mse_loss(prediction, target)
    if mode == "vanilla":
        return binary_cross_entropy_with_logits(prediction, target)
    raise ValueError(f"unknown gan_mode {mode!r}")


def seg_loss(logits: torch.Tensor, target: torch.Tensor, seg_target: str) -> torch.Tensor:
    """Sum over channels: BCE-with-logits for b and c, L1 of tanh(logit) for d (CySGAN), each a mean."""
    logits, target = logits.float(), target.float()
    total = logits.new_zeros(())
    for c, kind in enumerate(seg_target):
        if kind == "d":
            total = total + l1_loss(torch.tanh(logits[:, c]), target[:, c])
        else:
            total = total + binary_cross_entropy_with_logits(logits[:, c], target[:, c])
    return total
