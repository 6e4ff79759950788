"""A small 3D residual U-Net generator in the style of PyTorch Connectomics' ``unet_3d`` (CySGAN's generator).

Anisotropic levels use (1, 3, 3) kernels and (1, 2, 2) strides, the last two levels are isotropic; residual
blocks, GroupNorm, ELU, replicate padding; the decoder upsamples trilinearly to the skip's exact size and
adds it, so every input shape comes back unchanged. Image head: (1, 5, 5) conv + tanh.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.functional import interpolate

from em2exm.ccgan.heads import Generator, seg_head
from em2exm.ccgan.layers import ops, pytc_group_norm

Kernel = tuple[int, int, int]


def conv_gn_elu(cin: int, cout: int, kernel: Kernel, stride: int | Kernel = 1, act: bool = True) -> nn.Sequential:
    """'same' Conv3d (replicate padding) + GroupNorm (+ ELU)."""
    kz, ky, kx = kernel
    conv = nn.Conv3d(cin, cout, kernel, stride=stride, padding=(kz // 2, ky // 2, kx // 2), padding_mode="replicate",
                     bias=False)
    return nn.Sequential(conv, pytc_group_norm(cout), nn.ELU(inplace=True) if act else nn.Identity())


class ResidualBlock3d(nn.Module):
    """ELU(x + conv-gn-elu-conv-gn(x))."""

    def __init__(self, channels: int, kernel: Kernel) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            conv_gn_elu(channels, channels, kernel), conv_gn_elu(channels, channels, kernel, act=False)
        )
        self.act = nn.ELU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.conv(x))


class ResUNet3D(Generator):
    """Encoder of ``len(filters)`` levels (the last two isotropic), additive skips, optional segmentation head."""

    def __init__(
        self, input_nc: int = 1, output_nc: int = 1, filters: tuple[int, ...] = (16, 32, 48, 64), seg_target: str = ""
    ) -> None:
        super().__init__()
        iso = [i >= len(filters) - 2 for i in range(len(filters))]
        kernel = [(3, 3, 3) if s else (1, 3, 3) for s in iso]
        self.conv_in = conv_gn_elu(input_nc, filters[0], (1, 5, 5))
        self.down = nn.ModuleList(
            nn.Sequential(
                conv_gn_elu(filters[max(i - 1, 0)], f, kernel[i], stride=1 if i == 0 else (2 if iso[i] else (1, 2, 2))),
                ResidualBlock3d(f, kernel[i]),
            )
            for i, f in enumerate(filters)
        )
        self.up = nn.ModuleList(
            nn.ModuleList(
                [conv_gn_elu(filters[j], filters[j - 1], kernel[j]), ResidualBlock3d(filters[j - 1], kernel[j - 1])]
            )
            for j in range(1, len(filters))
        )
        self.image_head = nn.Sequential(
            nn.Conv3d(filters[0], output_nc, (1, 5, 5), padding=(0, 2, 2), padding_mode="replicate"), nn.Tanh()
        )
        self.seg_target = seg_target
        if seg_target:
            self.seg_head = seg_head(ops(3), filters[0], len(seg_target), pytc_group_norm(filters[0]))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        x = self.conv_in(x)
        skips = []
        for level in self.down:
            x = level(x)
            skips.append(x)
        skips.pop()
        for level in reversed(self.up):
            assert isinstance(level, nn.ModuleList)  # each up level is [conv, residual block]
            conv, block = level
            skip = skips.pop()
            x = interpolate(conv(x), size=skip.shape[2:], mode="trilinear", align_corners=True) + skip
            x = block(x)
        return self.image_head(x), (self.seg_head(x) if self.seg_target else None)
