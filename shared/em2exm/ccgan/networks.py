"""Build the configured generators and discriminators, check patch sizes, load reference checkpoints."""

from __future__ import annotations

from typing import Any

import torch

from em2exm.ccgan import patchgan, resnet
from em2exm.ccgan.config import CCGANConfig
from em2exm.ccgan.heads import Generator
from em2exm.ccgan.layers import InstanceNorm, init_weights
from em2exm.ccgan.patchgan import NLayerDiscriminator
from em2exm.ccgan.resnet import ResnetGenerator
from em2exm.ccgan.unet3d import ResUNet3D
from em2exm.errors import UserError

_RUNNING_STATS = ("running_mean", "running_var", "num_batches_tracked")


def build_generator(config: CCGANConfig, seg: bool | None = None) -> Generator:
    """A freshly initialised generator (1 channel in and out); ``seg`` overrides ``config.seg_head``."""
    target = config.seg_target if (config.seg_head if seg is None else seg) else ""
    if config.netG == "unet_3d":
        net: Generator = ResUNet3D(1, 1, config.unet_filters, target)
    else:
        blocks = 9 if config.netG == "resnet_9blocks" else 6
        net = ResnetGenerator(config.dims, 1, 1, config.ngf, blocks, target)
    return init_weights(net, config.init_gain)


def build_discriminator(config: CCGANConfig, input_nc: int = 1) -> NLayerDiscriminator:
    """A freshly initialised PatchGAN discriminator for ``input_nc`` channels."""
    return init_weights(NLayerDiscriminator(config.dims, input_nc, config.ndf, config.n_layers_D), config.init_gain)


def check_patch(config: CCGANConfig) -> None:
    """Raise ``UserError`` when the patch is too small for the configured networks."""
    shape = config.patch_shape
    for axis, size in enumerate(shape):
        first_strided = not (config.dims == 3 and axis == 0)
        if patchgan.output_size(size, config.n_layers_D, first_strided) < 1:
            raise UserError(
                f"patch {shape} is too small for a {config.n_layers_D}-layer PatchGAN along axis {axis}",
                "use a larger patch or a smaller n_layers_D (netD: n_layers)",
            )
        if config.netG != "unet_3d" and size < resnet.MIN_SIZE:
            raise UserError(
                f"patch {shape} is too small for the ResNet generator", f"use >= {resnet.MIN_SIZE} voxels per axis"
            )


def load_reference_generator(generator: Generator, state: dict[str, Any]) -> None:
    """Load a pytorch-CycleGAN-and-pix2pix generator state dict (e.g. ``latest_net_G_A.pth``).

    As the reference loader does, instance-norm running statistics of old checkpoints and a DataParallel
    ``module.`` prefix are dropped. The load is strict except that a segmentation head may be absent.
    """
    norms = {name for name, m in generator.named_modules() if isinstance(m, InstanceNorm)}
    clean = {}
    for key, value in state.items():
        key = key.removeprefix("module.")
        owner, _, leaf = key.rpartition(".")
        if not (owner in norms and leaf in _RUNNING_STATS):
            clean[key] = value
    try:
        missing, unexpected = generator.load_state_dict(clean, strict=False)
    except RuntimeError as err:
        raise UserError(
            f"generator checkpoint does not fit the configured network: {err}", "match ngf, netG and dims"
        ) from err
    missing = [k for k in missing if not k.startswith("seg_head.")]
    if missing or unexpected:
        raise UserError(
            f"generator checkpoint does not fit: missing {missing[:4]}, unexpected {unexpected[:4]}",
            "match ngf, netG and dims to the checkpoint",
        )


def memory_format(config: CCGANConfig, device: torch.device) -> torch.memory_format:
    """Channels-last (2D) or channels-last-3d where it was measured faster (CUDA; CPU in 3D), or as configured."""
    use = config.channels_last
    if use is None:
        use = device.type == "cuda" or config.dims == 3
    if not use:
        return torch.contiguous_format
    return torch.channels_last if config.dims == 2 else torch.channels_last_3d
