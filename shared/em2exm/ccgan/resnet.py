"""ResNet generator (Johnson et al., as in pytorch-CycleGAN-and-pix2pix) in 2D or 3D.

``model`` keeps the reference ``nn.Sequential`` indices (``model.1``, ``model.4``, ..., ``model.26``), so a
reference ``latest_net_G_A.pth`` loads strictly into a 2D generator without segmentation head. Upsampling asks
each transposed convolution for the exact size its matching downsampling saw, so any input of at least
5 voxels per axis comes back at its own shape (the reference's fixed ``output_padding=1`` needs multiples of 4).
"""

from __future__ import annotations

import torch
from torch import nn

from em2exm.ccgan.heads import Generator, seg_head
from em2exm.ccgan.layers import Ops, ops

N_DOWN = 2
TRUNK = -3  # the last three modules (pad, 7x7 conv, tanh) are the image head
MIN_SIZE = 5  # reflection pads need >= 4 voxels at full and >= 2 at quarter resolution


class ResnetBlock(nn.Module):
    """x + (pad, conv3, norm, ReLU, pad, conv3, norm)(x)."""

    def __init__(self, dim: int, layers: Ops) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(
            layers.pad(1),
            layers.conv(dim, dim, kernel_size=3, bias=True),
            layers.norm(dim),
            nn.ReLU(True),
            layers.pad(1),
            layers.conv(dim, dim, kernel_size=3, bias=True),
            layers.norm(dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(Generator):
    """c7s1-ngf, d2ngf, d4ngf, n_blocks x R4ngf, u2ngf, ungf, c7s1-out + tanh; optional segmentation head."""

    def __init__(
        self, dims: int, input_nc: int = 1, output_nc: int = 1, ngf: int = 64, n_blocks: int = 9, seg_target: str = ""
    ) -> None:
        super().__init__()
        lay = ops(dims)
        model: list[nn.Module] = [
            lay.pad(3),
            lay.conv(input_nc, ngf, kernel_size=7, bias=True),
            lay.norm(ngf),
            nn.ReLU(True),
        ]
        for i in range(N_DOWN):
            mult = 2**i
            model += [
                lay.conv(ngf * mult, ngf * mult * 2, kernel_size=3, stride=2, padding=1, bias=True),
                lay.norm(ngf * mult * 2),
                nn.ReLU(True),
            ]
        model += [ResnetBlock(ngf * 2**N_DOWN, lay) for _ in range(n_blocks)]
        for i in range(N_DOWN):
            mult = 2 ** (N_DOWN - i)
            model += [
                lay.conv_t(
                    ngf * mult, ngf * mult // 2, kernel_size=3, stride=2, padding=1, output_padding=1, bias=True
                ),
                lay.norm(ngf * mult // 2),
                nn.ReLU(True),
            ]
        model += [lay.pad(3), lay.conv(ngf, output_nc, kernel_size=7), nn.Tanh()]
        self.model = nn.Sequential(*model)
        self.seg_target = seg_target
        if seg_target:
            self.seg_head = seg_head(lay, ngf, len(seg_target))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        sizes: list[torch.Size] = []
        layers = list(self.model)
        for layer in layers[:TRUNK]:
            if isinstance(layer, (nn.ConvTranspose2d, nn.ConvTranspose3d)):
                x = layer(x, output_size=sizes.pop())
            else:
                if isinstance(layer, (nn.Conv2d, nn.Conv3d)) and layer.stride[0] == 2:
                    sizes.append(x.shape[2:])
                x = layer(x)
        image = x
        for layer in layers[TRUNK:]:
            image = layer(image)
        return image, (self.seg_head(x) if self.seg_target else None)
