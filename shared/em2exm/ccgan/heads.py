"""The generator contract (image in, image and optional segmentation logits out) and the segmentation head."""

from __future__ import annotations

import torch
from torch import nn

from em2exm.ccgan.layers import Ops


class Generator(nn.Module):
    """Base of all generators: ``forward(x) -> (image in [-1, 1], seg logits or None)``, same spatial shape.

    ``seg_target`` names the segmentation channels in order ("b", "bc" or "bcd"; "" without a head).
    """

    seg_target: str = ""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:  # pragma: no cover
        raise NotImplementedError


def seg_head(ops: Ops, channels: int, out_channels: int, norm: nn.Module | None = None) -> nn.Sequential:
    """3x3(x3) conv + norm + ReLU on the trunk features, then a 1x1(x1) conv to ``out_channels`` logits."""
    return nn.Sequential(
        ops.pad(1),
        ops.conv(channels, channels, kernel_size=3, bias=True),
        norm if norm is not None else ops.norm(channels),
        nn.ReLU(True),
        ops.conv(channels, out_channels, kernel_size=1, bias=True),
    )


def activate(logits: torch.Tensor, seg_target: str) -> torch.Tensor:
    """Logits to maps: sigmoid for b and c (probabilities), tanh for d (distance in [-1, 1])."""
    if "d" not in seg_target:
        return torch.sigmoid(logits)
    d = seg_target.index("d")
    return torch.cat(
        [torch.sigmoid(logits[:, :d]), torch.tanh(logits[:, d : d + 1]), torch.sigmoid(logits[:, d + 1 :])], 1
    )
