"""PatchGAN discriminator (pix2pix ``NLayerDiscriminator``) in 2D or 3D, reference module indices.

The 3D version follows CySGAN: its first convolution is (1, 4, 4) with stride (1, 2, 2), so anisotropic
patches with few z-slices (e.g. 16 or 17) still leave a valid prediction map.
"""

from __future__ import annotations

import torch
from torch import nn

from em2exm.ccgan.conv import Conv3d
from em2exm.ccgan.layers import ops


class NLayerDiscriminator(nn.Module):
    """C64 (no norm) - C128 - C256 - C512 (stride 1) - 1-channel map; LeakyReLU 0.2, 4x4 kernels."""

    def __init__(self, dims: int, input_nc: int = 1, ndf: int = 64, n_layers: int = 3) -> None:
        super().__init__()
        lay = ops(dims)
        if dims == 3:  # ops(3).conv
            first: nn.Module = Conv3d(input_nc, ndf, kernel_size=(1, 4, 4), stride=(1, 2, 2), padding=(0, 1, 1))
        else:
            first = lay.conv(input_nc, ndf, kernel_size=4, stride=2, padding=1)
        sequence: list[nn.Module] = [first, nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2**n, 8)
            stride = 2 if n < n_layers else 1
            sequence += [
                lay.conv(ndf * prev, ndf * mult, kernel_size=4, stride=stride, padding=1, bias=True),
                lay.norm(ndf * mult),
                nn.LeakyReLU(0.2, True),
            ]
        sequence += [lay.conv(ndf * mult, 1, kernel_size=4, stride=1, padding=1)]
        self.model = nn.Sequential(*sequence)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def output_size(size: int, n_layers: int, downsampled: bool = True) -> int:
    """Prediction-map length along an axis of ``size`` voxels (``downsampled``: the first conv strides it)."""
    for _ in range(n_layers if downsampled else n_layers - 1):
        size //= 2
    return size - 2
