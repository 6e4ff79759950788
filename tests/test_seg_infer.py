"""Sliding-window inference: PyTC grid and blending, blockwise == whole-volume exactly (reads: test_tiling)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from em2exm.seg.blocks import BlockPlan, infer_block, infer_volume
from em2exm.seg.config import InferOptions
from em2exm.seg.heads import channel_names, normalize_image
from em2exm.seg.predict import Predictor
from em2exm.seg.unet import build_unet
from em2exm.seg.window import SlidingWindow
from em2exm.tiling import window_weights
from pydantic import ValidationError


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    net = build_unet("light", 3)
    net.train()
    with torch.no_grad():
        net(torch.randn(2, 1, 5, 17, 17))  # non-trivial BN statistics
    return net.eval()


def test_gaussian_blend_is_pytc_formula():
    w = window_weights((3, 5, 5))  # the pytc Gaussian, sigma 0.2
    assert w.dtype == np.float32 and w.shape == (3, 5, 5)
    assert w[1, 2, 2] == pytest.approx(1 + 1e-4)
    assert w[0, 2, 2] == pytest.approx(1e-4 + np.exp(-1 / 0.08), rel=1e-5)
    assert w[0, 0, 0] == pytest.approx(1e-4 + np.exp(-3 / 0.08), rel=1e-4)


def test_window_grid_matches_pytc_count_and_tuck_in():
    sw = SlidingWindow.from_overlap((32, 128, 128), 0.5)
    assert sw.stride == (16, 64, 64)
    assert sw.starts((64, 256, 256)) == [[0, 16, 32], [0, 64, 128], [0, 64, 128]]
    assert SlidingWindow((4, 8, 8), (4, 5, 5)).starts((10, 20, 8)) == [[0, 4, 6], [0, 5, 10, 12], [0]]
    padded = SlidingWindow((4, 8, 8), (2, 4, 4), pad=(1, 2, 2)).starts((6, 12, 12))
    assert padded[0] == [-1, 1, 3] and padded[1] == [-2, 2, 6]
    small = SlidingWindow((8, 8, 8), (4, 4, 4)).starts((3, 8, 8))  # volume thinner than the window
    assert small[0] == [-2]


def test_block_plan_covers_volume_once():
    plan = BlockPlan((10, 30, 41), (4, 16, 16), SlidingWindow.from_overlap((4, 16, 16), 0.5))
    assert len(plan) == 3 * 2 * 3
    seen = np.zeros((10, 30, 41), int)
    for block in plan:
        seen[block.core] += 1
        start, stop = block.read
        assert all(a <= c.start and b >= c.stop for a, b, c in zip(start, stop, block.core))
    assert (seen == 1).all()
    with pytest.raises(IndexError):
        plan[len(plan)]


@pytest.mark.parametrize("batch_size", [1, 3])
def test_blockwise_equals_whole_volume_exactly(model, batch_size):
    rng = np.random.default_rng(1)
    vol = rng.integers(0, 256, (8, 28, 36), dtype=np.uint8)
    sw = SlidingWindow((4, 16, 16), (3, 11, 11), pad=(1, 4, 4))
    predictor = Predictor(model, "bcd", batch_size=batch_size)
    whole = infer_volume(predictor, vol, BlockPlan(vol.shape, vol.shape, sw, batch_size))
    assert whole.shape == (3, 8, 28, 36) and whole.dtype == np.uint8
    four = infer_volume(predictor, vol, BlockPlan(vol.shape, (8, 14, 18), sw, batch_size))  # 4 blocks
    odd = infer_volume(predictor, vol, BlockPlan(vol.shape, (3, 10, 20), sw, batch_size))
    np.testing.assert_array_equal(four, whole)
    np.testing.assert_array_equal(odd, whole)
    out = np.full_like(whole, 7)  # a range of blocks, as an orchestrator would run them
    plan = BlockPlan(vol.shape, (8, 14, 18), sw, batch_size)
    infer_volume(predictor, vol, plan, out=out, blocks=range(2))
    infer_volume(predictor, vol, plan, out=out, blocks=range(2, len(plan)))
    np.testing.assert_array_equal(out, whole)


def test_single_window_equals_model_output(model):
    """One window covering the volume: blending cancels, the result is trunc(255 * activation)."""
    rng = np.random.default_rng(2)
    vol = rng.integers(0, 256, (5, 17, 17), dtype=np.uint8)
    plan = BlockPlan(vol.shape, vol.shape, SlidingWindow((5, 17, 17), (5, 17, 17)), batch_size=2)
    got = infer_block(Predictor(model, "bcd", batch_size=2), vol, plan[0])
    with torch.no_grad():
        logits = model(torch.from_numpy(normalize_image(vol))[None, None])[0]
    probs = torch.cat([torch.sigmoid(logits[:2]), (torch.tanh(logits[2:]) + 1) / 2]).numpy()
    assert np.abs(got.astype(int) - (probs * 255).astype(np.uint8)).max() <= 1


def test_flip_tta_averages_equivariant_outputs(model):
    rng = np.random.default_rng(3)
    windows = normalize_image(rng.integers(0, 256, (1, 5, 17, 17), dtype=np.uint8))
    plain = Predictor(model, "bcd", tta=1)(windows)
    tta = Predictor(model, "bcd", tta=16)(windows)
    flipped = Predictor(model, "bcd", tta=16)(np.ascontiguousarray(windows[:, ::-1, :, ::-1]))
    assert tta.shape == plain.shape == (1, 3, 5, 17, 17)
    np.testing.assert_allclose(flipped, tta[:, :, ::-1, :, ::-1], atol=1e-5)  # the 16 variants are a group
    assert not np.allclose(tta, plain, atol=1e-6)


def test_blending_choice_and_infer_options():
    gaussian = SlidingWindow.from_overlap((3, 5, 5), 0.5)
    np.testing.assert_array_equal(gaussian.weights(), window_weights((3, 5, 5), "gaussian", 0.2, "pytc"))
    assert (SlidingWindow.from_overlap((3, 5, 5), 0.5, blending="constant").weights() == 1).all()
    assert SlidingWindow.from_overlap((3, 5, 5), sigma=0.5).weights()[0, 2, 2] > gaussian.weights()[0, 2, 2]
    options = InferOptions()
    assert (options.overlap, options.sigma, options.blending, options.tta) == (0.5, 0.2, "gaussian", 1)
    for bad in ({"tta": 3}, {"halo": 4}, {"block": (0, 8, 8)}, {"overlap": 1.0}):
        with pytest.raises(ValidationError):
            InferOptions(**bad)
    assert channel_names("bcd") == ["foreground", "contour", "distance"]
    assert channel_names("bcd", "signed")[-1] == "signed_distance" and channel_names("bc") == ["foreground", "contour"]
