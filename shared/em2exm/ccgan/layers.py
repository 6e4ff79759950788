"""Dimension-generic building blocks: the 2D or 3D flavour of each layer the networks use."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import torch
from torch import nn
from torch.nn.functional import group_norm

from em2exm.ccgan.conv import Conv2d, Conv3d


@dataclass(frozen=True)
class Ops:
    """Layer constructors for one spatial dimensionality."""

    dims: int
    conv: type[nn.Conv2d] | type[nn.Conv3d]
    conv_t: type[nn.ConvTranspose2d] | type[nn.ConvTranspose3d]
    pad: type[nn.ReflectionPad2d] | type[nn.ReflectionPad3d]
    norm: Callable[[int], nn.Module]


class InstanceNorm(nn.Module):
    """Instance norm without affine parameters or running stats (the CycleGAN default), any dimensionality.

    Computed as GroupNorm with one group per channel: the same normalisation, but PyTorch's group-norm
    kernels are several times faster on CPU than ``instance_norm`` and run in float32 under autocast.
    """

    def __init__(self, num_features: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.num_features, self.eps = num_features, eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return group_norm(x, self.num_features, eps=self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}"


def ops(dims: int) -> Ops:
    """2D or 3D layers."""
    if dims == 2:
        return Ops(2, Conv2d, nn.ConvTranspose2d, nn.ReflectionPad2d, InstanceNorm)
    if dims == 3:
        return Ops(3, Conv3d, nn.ConvTranspose3d, nn.ReflectionPad3d, InstanceNorm)
    raise ValueError(f"dims must be 2 or 3, not {dims}")


M = TypeVar("M", bound=nn.Module)


def pytc_group_norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with 8 groups where they divide the channels (PyTC's ``gn``), else fewer."""
    return nn.GroupNorm(next(g for g in (8, 4, 2, 1) if channels % g == 0), channels)


def init_weights(net: M, gain: float = 0.02) -> M:
    """The reference ``init_type='normal'``: conv weights ~ N(0, gain), biases 0, BatchNorm weights ~ N(1, gain)."""
    for module in net.modules():
        if isinstance(module, (nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.ConvTranspose3d, nn.Linear)):
            nn.init.normal_(module.weight, 0.0, gain)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, (nn.BatchNorm2d, nn.BatchNorm3d)):
            nn.init.normal_(module.weight, 1.0, gain)
            nn.init.zeros_(module.bias)
    return net
