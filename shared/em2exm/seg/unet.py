"""3D residual U-Net with the layout of PyTorch Connectomics' ``unet_3d`` (v1.0).

Module names follow PyTC so a PyTC ``unet_3d`` state dict with the same filters loads unchanged.
Stage ``i`` downsamples by a stride-2 convolution ((1,2,2) in anisotropic stages, 2 in isotropic
ones); the decoder upsamples trilinearly (``align_corners=True``) to the skip's exact size and adds.

Input size: any ``(Z, Y, X)`` works, because every stride-2 convolution maps ``n -> ceil(n / 2)`` and the
decoder resizes to the skip's size. The grids line up exactly (as PyTC assumes) when each size is
``2**k * m + 1`` with ``k`` the number of downsamplings of that axis: ``z = 4m + 1`` and
``y, x = 16m + 1`` for both presets (e.g. ``17 x 129 x 129``); other sizes cost slight misalignment only.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F  # noqa: N812 - the PyTorch convention
from torch import nn

Kernel = tuple[int, int, int]


@dataclass(frozen=True)
class UNetPreset:
    """Filters per stage and which stages are isotropic (3x3x3 convolutions, z downsampled)."""

    filters: tuple[int, ...]
    isotropy: tuple[bool, ...]


PRESETS: dict[str, UNetPreset] = {
    "pytc": UNetPreset(filters=(28, 36, 48, 64, 80), isotropy=(False, False, False, True, True)),
    "light": UNetPreset(filters=(16, 24, 32, 48, 64), isotropy=(False, False, False, True, True)),
}


def _norm(norm: str, channels: int) -> nn.Module:
    if norm == "bn":
        return nn.BatchNorm3d(channels, momentum=0.1)
    if norm == "gn":  # PyTC uses 8 groups; fall back to fewer when 8 does not divide the channels
        groups = next(g for g in (8, 4, 2, 1) if channels % g == 0)
        return nn.GroupNorm(groups, channels)
    if norm == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {norm!r}")


def conv_norm_act(
    cin: int,
    cout: int,
    kernel: Kernel,
    stride: int | Kernel = 1,
    norm: str = "bn",
    act: bool = True,
    bias: bool = False,
) -> nn.Sequential:
    """Conv3d (replicate padding, 'same' size at stride 1) + norm + ELU, as PyTC's ``conv3d_norm_act``."""
    kz, ky, kx = kernel
    conv = nn.Conv3d(cin, cout, kernel, stride=stride, padding=(kz // 2, ky // 2, kx // 2), padding_mode="replicate",
                     bias=bias)
    return nn.Sequential(conv, _norm(norm, cout), nn.ELU(inplace=True) if act else nn.Identity())


class ResidualBlock(nn.Module):
    """Two 1x3x3 conv-norm layers plus identity, then ELU (PyTC ``BasicBlock3d``, anisotropic as in unet_3d)."""

    def __init__(self, channels: int, norm: str) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            conv_norm_act(channels, channels, (1, 3, 3), norm=norm),
            conv_norm_act(channels, channels, (1, 3, 3), norm=norm, act=False),
        )
        self.projector = nn.Identity()
        self.act = nn.ELU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(x) + self.projector(x))


class UNet3D(nn.Module):
    """Residual U-Net returning raw logits ``(N, out_channels, Z, Y, X)`` for input ``(N, in_channels, Z, Y, X)``."""

    def __init__(self, preset: UNetPreset, in_channels: int = 1, out_channels: int = 3, norm: str = "bn") -> None:
        super().__init__()
        filters, isotropy = preset.filters, preset.isotropy
        if len(filters) != len(isotropy):
            raise ValueError("filters and isotropy need the same length")
        self.depth = len(filters)
        io_kernel: Kernel = (1, 5, 5)
        self.conv_in = conv_norm_act(in_channels, filters[0], io_kernel, norm=norm)
        self.conv_out = conv_norm_act(filters[0], out_channels, io_kernel, norm="none", act=False, bias=True)
        self.down_layers = nn.ModuleList()
        for i, (width, iso) in enumerate(zip(filters, isotropy)):
            stride: int | Kernel = 1 if i == 0 else (2 if iso else (1, 2, 2))
            self.down_layers.append(
                nn.Sequential(
                    nn.Identity(),  # PyTC's (unused) pooling slot keeps state-dict keys aligned
                    conv_norm_act(filters[max(i - 1, 0)], width, _kernel(iso), stride=stride, norm=norm),
                    ResidualBlock(width, norm),
                )
            )
        self.up_layers = nn.ModuleList(
            nn.ModuleList(
                [
                    conv_norm_act(filters[j], filters[j - 1], _kernel(isotropy[j]), norm=norm),
                    ResidualBlock(filters[j - 1], norm),
                ]
            )
            for j in range(1, self.depth)
        )
        for module in self.modules():
            if isinstance(module, nn.Conv3d):
                nn.init.orthogonal_(module.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_in(x)
        skips = []
        for layer in self.down_layers[:-1]:
            x = layer(x)
            skips.append(x)
        x = self.down_layers[-1](x)
        for i in reversed(range(self.depth - 1)):
            level = self.up_layers[i]
            assert isinstance(level, nn.ModuleList)  # each up level is [conv, residual block]
            conv, block = level
            x = conv(x)
            x = F.interpolate(x, size=skips[i].shape[2:], mode="trilinear", align_corners=True) + skips[i]
            x = block(x)
        return self.conv_out(x)


def _kernel(isotropic: bool) -> Kernel:
    return (3, 3, 3) if isotropic else (1, 3, 3)


def build_unet(preset: str, out_channels: int, norm: str = "bn", in_channels: int = 1) -> UNet3D:
    """The U-Net for a named preset ('pytc' or 'light')."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    return UNet3D(PRESETS[preset], in_channels=in_channels, out_channels=out_channels, norm=norm)


def fuse_batchnorm(model: nn.Module) -> nn.Module:
    """Fold every eval-mode BatchNorm3d into the Conv3d before it (in place); returns ``model`` in eval mode."""
    model.eval()
    for seq in model.modules():
        if not isinstance(seq, nn.Sequential):
            continue
        for k in range(len(seq) - 1):
            conv, bn = seq[k], seq[k + 1]
            if isinstance(conv, nn.Conv3d) and isinstance(bn, nn.BatchNorm3d):
                _fold(conv, bn)
                seq[k + 1] = nn.Identity()
    return model


@torch.no_grad()
def _fold(conv: nn.Conv3d, bn: nn.BatchNorm3d) -> None:
    mean, var = bn.running_mean, bn.running_var
    if mean is None or var is None:
        raise ValueError("a BatchNorm3d without running statistics cannot be folded")
    scale = bn.weight / torch.sqrt(var + bn.eps)
    bias = conv.bias if conv.bias is not None else torch.zeros_like(mean)
    conv.weight.mul_(scale.view(-1, 1, 1, 1, 1))
    conv.bias = nn.Parameter((bias - mean) * scale + bn.bias)
