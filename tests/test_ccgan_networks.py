"""CCGAN networks: exact shape round trips in 2D and 3D, the reference state-dict layout, patch checks."""

from __future__ import annotations

import io

import pytest
import torch
from em2exm.ccgan.checkpoint import reference_generator
from em2exm.ccgan.config import CCGANConfig
from em2exm.ccgan.networks import build_discriminator, build_generator, check_patch, load_reference_generator
from em2exm.ccgan.patchgan import NLayerDiscriminator, output_size
from em2exm.ccgan.resnet import ResnetGenerator
from em2exm.ccgan.unet3d import ResUNet3D
from em2exm.errors import UserError


def reference_layout(ngf: int = 64, n_blocks: int = 9) -> dict[str, tuple[int, ...]]:
    """Keys and shapes of the reference ResnetGenerator(1, 1, ngf, InstanceNorm2d, use_dropout=False, n_blocks).

    Written from the reference architecture: Sequential indices 0 pad, 1 conv7, 2 norm, 3 relu; two
    (conv3 s2, norm, relu) at 4 and 7; ResnetBlocks at 10..; two (convT, norm, relu); pad, conv7 (26), tanh.
    Each ResnetBlock's conv_block: 0 pad, 1 conv, 2 norm, 3 relu, 4 pad, 5 conv, 6 norm. Instance norm
    without affine/running stats stores nothing. ConvTranspose weights are (in, out, k, k).
    """
    layout = {
        "model.1.weight": (ngf, 1, 7, 7),
        "model.1.bias": (ngf,),
        "model.4.weight": (2 * ngf, ngf, 3, 3),
        "model.4.bias": (2 * ngf,),
        "model.7.weight": (4 * ngf, 2 * ngf, 3, 3),
        "model.7.bias": (4 * ngf,),
    }
    for i in range(10, 10 + n_blocks):
        for j in (1, 5):
            layout[f"model.{i}.conv_block.{j}.weight"] = (4 * ngf, 4 * ngf, 3, 3)
            layout[f"model.{i}.conv_block.{j}.bias"] = (4 * ngf,)
    up = 10 + n_blocks
    layout[f"model.{up}.weight"] = (4 * ngf, 2 * ngf, 3, 3)
    layout[f"model.{up}.bias"] = (2 * ngf,)
    layout[f"model.{up + 3}.weight"] = (2 * ngf, ngf, 3, 3)
    layout[f"model.{up + 3}.bias"] = (ngf,)
    layout[f"model.{up + 7}.weight"] = (1, ngf, 7, 7)
    layout[f"model.{up + 7}.bias"] = (1,)
    return layout


def random_state(layout: dict[str, tuple[int, ...]]) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return {k: torch.randn(shape, generator=generator) * 0.02 for k, shape in layout.items()}


def test_reference_layout_loads_strictly():
    layout = reference_layout()
    assert len(layout) == 48 and "model.26.weight" in layout
    generator = build_generator(CCGANConfig(seg_head=False))
    assert {k: tuple(v.shape) for k, v in generator.state_dict().items()} == layout
    state = random_state(layout)
    generator.load_state_dict(state, strict=True)
    assert all(torch.equal(generator.state_dict()[k], v) for k, v in state.items())


def test_reference_checkpoint_file_with_old_norm_stats():
    """Old reference checkpoints carry instance-norm running stats; the loader drops them as the reference does."""
    state = random_state(reference_layout(ngf=8, n_blocks=6))
    state["model.2.running_mean"] = torch.zeros(8)
    state["model.12.conv_block.2.num_batches_tracked"] = torch.tensor(0)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    config = CCGANConfig(ngf=8, netG="resnet_6blocks", seg_head=False)
    generator = reference_generator(buffer.getvalue(), config)
    assert torch.equal(generator.model[23].weight, state["model.23.weight"])  # 6 blocks: final conv at 23
    with_head = build_generator(config, seg=True)
    load_reference_generator(with_head, state)  # the trunk loads, the new seg head keeps its init
    assert torch.equal(with_head.model[1].weight, state["model.1.weight"])
    with pytest.raises(UserError, match="does not fit"):
        load_reference_generator(build_generator(config.model_copy(update={"ngf": 16})), state)


@pytest.mark.parametrize("size", [(64, 64), (65, 65), (33, 47), (128, 96), (5, 6)])
def test_resnet_2d_round_trip(size):
    net = ResnetGenerator(2, ngf=4, n_blocks=2, seg_target="bc")
    image, seg = net(torch.zeros(2, 1, *size))
    assert image.shape == (2, 1, *size) and seg.shape == (2, 2, *size)


@pytest.mark.parametrize("size", [(16, 64, 64), (17, 65, 65), (5, 9, 12)])
def test_resnet_3d_round_trip(size):
    net = ResnetGenerator(3, ngf=2, n_blocks=1, seg_target="b")
    image, seg = net(torch.zeros(1, 1, *size))
    assert image.shape == (1, 1, *size) and seg.shape == (1, 1, *size)


@pytest.mark.parametrize("size", [(16, 64, 64), (17, 65, 65), (3, 10, 13)])
def test_unet_3d_round_trip(size):
    net = ResUNet3D(filters=(4, 8, 8, 8), seg_target="bcd")
    image, seg = net(torch.zeros(1, 1, *size))
    assert image.shape == (1, 1, *size) and seg.shape == (1, 3, *size)
    assert image.abs().max() <= 1


def test_plain_generator_has_no_seg_output():
    image, seg = ResnetGenerator(2, ngf=4, n_blocks=1)(torch.zeros(1, 1, 16, 16))
    assert seg is None and image.shape == (1, 1, 16, 16)


def test_discriminator_layout_and_sizes():
    net = NLayerDiscriminator(2)
    assert [k for k in net.state_dict() if k.endswith("weight")] == [f"model.{i}.weight" for i in (0, 2, 5, 8, 11)]
    assert net(torch.zeros(1, 1, 128, 128)).shape == (1, 1, 14, 14) and output_size(128, 3) == 14
    net3 = NLayerDiscriminator(3, ndf=4)
    for size in [(16, 64, 64), (17, 65, 65)]:
        out = net3(torch.zeros(1, 1, *size))
        assert out.shape[2:] == (output_size(size[0], 3, False), output_size(size[1], 3), output_size(size[2], 3))


def test_check_patch():
    check_patch(CCGANConfig(dims=3, patch=(16, 64, 64)))
    with pytest.raises(UserError, match="too small"):
        check_patch(CCGANConfig(patch=(20, 64)))
    with pytest.raises(UserError, match="too small"):
        check_patch(CCGANConfig(dims=3, patch=(8, 64, 64)))
    check_patch(CCGANConfig(patch=(20, 64), netD="n_layers", n_layers_D=2))


def test_config_validation():
    assert CCGANConfig(dims=3).patch_shape == (17, 65, 65)
    with pytest.raises(ValueError, match="extra"):
        CCGANConfig(lamda_A=1)
    with pytest.raises(ValueError, match="needs 3 sizes"):
        CCGANConfig(dims=3, patch=(64, 64))
    with pytest.raises(ValueError, match="dims=3"):
        CCGANConfig(netG="unet_3d")
    with pytest.raises(ValueError, match="seg_head"):
        CCGANConfig(seg_head=False, seg_discriminator=True)


def test_init_is_reference_normal():
    net = build_discriminator(CCGANConfig(ndf=32))
    weight, bias = net.model[5].weight.detach(), net.model[5].bias.detach()
    assert abs(float(weight.std()) - 0.02) < 0.002 and float(bias.abs().max()) == 0
