"""Convolutions whose CPU backward picks the faster memory format per gradient (same maths, other kernels).

On CPU, oneDNN's channels-last convolution is fast forward and for the input gradient, but its weight
gradient runs at about half the speed of the contiguous (NCHW) kernel for the ResNet trunk's 3x3 layers.
``Conv2d`` / ``Conv3d`` therefore compute the weight and bias gradients of 3x3(x3) stride-1 layers from
contiguous copies of the input and output gradient, and everything else as usual: a 3D CycleGAN iteration
(16 x 64 x 64, 2-core AVX2 CPU) went from 17.9 to 15.5 s. (2D CPU training defaults to NCHW, faster still.) Elsewhere (CUDA, contiguous tensors, no grad)
they are plain ``nn.Conv2d`` / ``nn.Conv3d``; parameters and state-dict keys are unchanged.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class _SplitBackwardConv(torch.autograd.Function):
    """``conv(x, weight, bias)`` with the weight gradient computed on contiguous tensors."""

    @staticmethod
    def forward(
        ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, conv: nn.Conv2d | nn.Conv3d
    ) -> torch.Tensor:
        assert not isinstance(conv.padding, str), "only numeric padding has the split backward (see _split)"
        ctx.save_for_backward(x, weight)
        ctx.conv, ctx.has_bias = conv, bias is not None
        return torch.convolution(
            x, weight, bias, conv.stride, conv.padding, conv.dilation, False, _zeros(conv), conv.groups
        )

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, weight = ctx.saved_tensors
        conv = ctx.conv
        args = (conv.stride, conv.padding, conv.dilation, False, _zeros(conv), conv.groups)
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        grad_x = grad_w = grad_b = None
        if need_x:
            grad = grad.contiguous(memory_format=_format(x))
            grad_x = torch.ops.aten.convolution_backward(grad, x, weight, None, *args, (True, False, False))[0]
        if need_w or need_b:
            _, grad_w, grad_b = torch.ops.aten.convolution_backward(
                grad.contiguous(), x.contiguous(), weight.contiguous(), [weight.shape[0]] if ctx.has_bias else None,
                *args, (False, need_w, need_b and ctx.has_bias),
            )  # fmt: skip
            grad_w = grad_w.contiguous(memory_format=_format(weight)) if need_w else None
        return grad_x, grad_w, grad_b if need_b else None, None


def _zeros(conv: nn.Conv2d | nn.Conv3d) -> list[int]:
    return [0] * len(conv.stride)


def _format(t: torch.Tensor) -> torch.memory_format:
    if t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last) and not t.is_contiguous():
        return torch.channels_last
    if t.dim() == 5 and t.is_contiguous(memory_format=torch.channels_last_3d) and not t.is_contiguous():
        return torch.channels_last_3d
    return torch.contiguous_format


def _split(conv: nn.Conv2d | nn.Conv3d, x: torch.Tensor) -> bool:
    """Whether the split backward applies: a 3x3(x3) stride-1 convolution (where it measured faster; strided and
    7x7 layers are not) with numeric zero padding (``torch.convolution`` takes no 'same'/'valid') of a
    channels-last CPU tensor, with gradients wanted, in float32 (not under autocast)."""
    if not (torch.is_grad_enabled() and (x.requires_grad or conv.weight.requires_grad)):
        return False
    if torch.is_autocast_enabled(x.device.type):  # the split kernels are float32 ones
        return False
    square = set(conv.kernel_size) == {3} and set(conv.stride) == {1} and conv.padding_mode == "zeros"
    square = square and not isinstance(conv.padding, str)
    return square and x.device.type == "cpu" and _format(x) != torch.contiguous_format


class Conv2d(nn.Conv2d):
    """``nn.Conv2d`` with the split CPU backward for channels-last inputs."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if _split(self, x):
            return _SplitBackwardConv.apply(x, self.weight, self.bias, self)
        return super().forward(x)


class Conv3d(nn.Conv3d):
    """``nn.Conv3d`` with the split CPU backward for channels-last-3d inputs."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if _split(self, x):
            return _SplitBackwardConv.apply(x, self.weight, self.bias, self)
        return super().forward(x)
