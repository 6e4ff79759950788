"""U-Net presets: output shapes for aligned and odd sizes, BN folding, checkpoint round trip."""

from __future__ import annotations

import io

import pytest
import torch
from em2exm.errors import UserError
from em2exm.seg.checkpoint import build_model, checkpoint_bytes, load_checkpoint, model_from_checkpoint, save_checkpoint
from em2exm.seg.config import SegTrainConfig
from em2exm.seg.unet import PRESETS, build_unet, fuse_batchnorm


@pytest.mark.parametrize("preset", ["pytc", "light"])
@pytest.mark.parametrize("shape", [(5, 33, 33), (4, 20, 28), (1, 16, 16)])
def test_unet_output_shape(preset, shape):
    model = build_unet(preset, out_channels=3).eval()
    with torch.no_grad():
        out = model(torch.zeros(2, 1, *shape))
    assert out.shape == (2, 3, *shape)


def test_pytc_preset_matches_pytc_defaults():
    preset = PRESETS["pytc"]
    assert preset.filters == (28, 36, 48, 64, 80)
    assert preset.isotropy == (False, False, False, True, True)
    model = build_unet("pytc", 3)
    assert model.conv_in[0].kernel_size == (1, 5, 5) and model.conv_in[0].padding_mode == "replicate"
    assert model.down_layers[3][1][0].kernel_size == (3, 3, 3) and model.down_layers[3][1][0].stride == (2, 2, 2)
    assert model.down_layers[1][1][0].stride == (1, 2, 2)
    assert isinstance(model.conv_in[2], torch.nn.ELU)
    assert sum(p.numel() for p in build_unet("light", 3).parameters()) < sum(p.numel() for p in model.parameters())


def test_group_norm_variant():
    model = build_unet("pytc", 2, norm="gn")
    assert isinstance(model.conv_in[1], torch.nn.GroupNorm) and model.conv_in[1].num_groups == 4  # 28 channels


def test_fuse_batchnorm_keeps_outputs():
    torch.manual_seed(0)
    model = build_unet("light", 3)
    model.train()
    model(torch.randn(2, 1, 5, 33, 33))  # non-trivial running statistics
    model.eval()
    x = torch.randn(1, 1, 5, 33, 33)
    with torch.no_grad():
        expected = model(x)
        fused = fuse_batchnorm(model)(x)
    assert not any(isinstance(m, torch.nn.BatchNorm3d) for m in model.modules())
    torch.testing.assert_close(fused, expected, atol=1e-4, rtol=1e-4)


def test_checkpoint_round_trip_through_bytes():
    config = SegTrainConfig(preset="light", target="bc")
    model = build_model(config)
    state = {"config": config.model_dump(mode="json"), "model": model.state_dict()}
    buffer = io.BytesIO()
    save_checkpoint(state, buffer)
    assert buffer.getvalue() == checkpoint_bytes(state)
    restored, restored_config = model_from_checkpoint(load_checkpoint(buffer.getvalue()))
    assert restored_config == config and not restored.training
    for key, value in model.state_dict().items():
        assert torch.equal(value, restored.state_dict()[key])


def test_bad_checkpoint_is_a_user_error():
    with pytest.raises(UserError):
        load_checkpoint(b"not a checkpoint")
    with pytest.raises(UserError):
        load_checkpoint(checkpoint_bytes({"weights": torch.zeros(1)}))


def test_checkpoint_weights_that_do_not_fit_are_one_line_user_errors():
    config = SegTrainConfig(preset="light", target="bc")
    weights = build_model(config).state_dict()
    bcd = config.model_copy(update={"target": "bcd"}).model_dump(mode="json")
    cases = {"do not fit the network": {"config": bcd, "model": weights},
             "not a mapping of tensors": {"config": config.model_dump(mode="json"), "model": [1.0]}}
    for problem, state in cases.items():
        with pytest.raises(UserError, match=problem) as caught:
            model_from_checkpoint(load_checkpoint(checkpoint_bytes(state)))
        assert "\n" not in str(caught.value)


def test_refused_checkpoint_is_one_line_of_ours():
    """A checkpoint holding other objects than tensors: our reason, never torch's advice to drop weights_only."""
    with pytest.raises(UserError, match="refuses to load") as caught:
        load_checkpoint(checkpoint_bytes({"config": {}, "model": {"w": io.BytesIO()}}))
    assert "weights_only" not in str(caught.value) and "\n" not in str(caught.value)
