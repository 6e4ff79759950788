"""CCGAN data paths: patch sampling from numpy/zarr, and blockwise translation of whole volumes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import zarr
from em2exm.ccgan.config import CCGANConfig
from em2exm.ccgan.networks import build_generator
from em2exm.ccgan.sampler import PatchSampler, to_unit
from em2exm.ccgan.translate import SIGMA, array_reader, array_writer, translate_volume
from em2exm.errors import UserError
from em2exm.tiling import WindowGrid, window_weights


def volumes(shape=(10, 40, 48), seed=0):
    """EM-like image, blob labels whose foreground the image encodes (255 where labelled), ExM-like image."""
    rng = np.random.default_rng(seed)
    labels = np.zeros(shape, np.uint16)
    labels[:, 5:20, 8:30] = 3
    labels[:, 25:38, 30:46] = 7
    image_a = np.where(labels > 0, 255, rng.integers(0, 100, shape)).astype(np.uint8)
    image_b = rng.integers(0, 256, (8, 50, 50)).astype(np.uint8)
    return image_a, labels, image_b


@pytest.mark.parametrize("options", [{"patch": (24, 24)}, {"dims": 3, "patch": (6, 16, 24), "seg_target": "bcd"}])
def test_sampler_shapes_ranges_and_alignment(options):
    config = CCGANConfig(batch_size=3, **options)
    image_a, labels, image_b = volumes()
    sampler = PatchSampler(image_a, labels, image_b, config, np.random.default_rng(1))
    for _ in range(5):
        batch = sampler.sample()
        spatial = config.patch_shape
        assert batch["A"].shape == batch["B"].shape == (3, 1, *spatial)
        assert batch["seg"].shape == (3, len(config.seg_target), *spatial)
        assert batch["A"].dtype == np.float32 and -1 <= batch["A"].min() and batch["A"].max() <= 1
        # flips and rot90 moved image and labels together: labelled voxels are exactly the 255 (= 1.0) ones
        assert np.array_equal(batch["seg"][:, :1] > 0, batch["A"] == 1.0)


def test_sampler_reads_zarr_and_filters_foreground():
    image_a, labels, image_b = volumes()
    labels[:] = 0
    labels[4, 10:30, 10:30] = 1
    image_a = np.where(labels > 0, 255, 0).astype(np.uint8)
    arrays = [zarr.array(v, chunks=(4, 16, 16)) for v in (image_a, labels, image_b)]
    config = CCGANConfig(patch=(16, 16), min_foreground=0.5, foreground_tries=200, rot90=False)
    sampler = PatchSampler(*arrays, config, np.random.default_rng(0))
    fractions = [sampler.sample()["seg"].mean() for _ in range(10)]
    assert min(fractions) >= 0.5
    unfiltered = PatchSampler(*arrays, config.model_copy(update={"min_foreground": 0.0}), np.random.default_rng(0))
    assert np.mean([unfiltered.sample()["seg"].mean() for _ in range(20)]) < 0.2


def test_sampler_rejects_bad_inputs():
    image_a, labels, image_b = volumes()
    config = CCGANConfig(patch=(24, 24))
    with pytest.raises(UserError, match="uint8"):
        PatchSampler(image_a.astype(np.float32), labels, image_b, config, np.random.default_rng(0))
    with pytest.raises(UserError, match="smaller than the patch"):
        PatchSampler(image_a, labels, image_b, CCGANConfig(patch=(64, 64)), np.random.default_rng(0))
    with pytest.raises(UserError, match="labels"):
        PatchSampler(image_a, None, image_b, config, np.random.default_rng(0))
    assert to_unit(np.array([0, 255], np.uint8)).tolist() == [-1.0, 1.0]


def test_window_grid_and_weights():
    grid = WindowGrid((1, 1, 32), (1, 1, 24))  # the translator centres a window on a thinner volume
    assert grid.starts((1, 1, 100), spare="before")[2] == [0, 24, 48, 68]
    assert grid.starts((1, 1, 20), spare="before")[2] == [-6]
    for blend in ("gaussian", "linear"):
        weight = window_weights((1, 9, 8), blend, SIGMA, "separable")
        assert weight.shape == (1, 9, 8) and weight.min() > 0 and weight[0, 4, 3] == weight.max()


def translate(generator, volume, dims, patch, **kwargs):
    image = np.zeros(volume.shape, np.uint8)
    seg = np.zeros((len(generator.seg_target), *volume.shape), np.uint8)
    translate_volume(generator, array_reader(volume), array_writer(image, seg), volume.shape, dims, patch, **kwargs)
    return image, seg


def test_translate_2d_blockwise_is_exact():
    """Any block split gives the single-block result bit for bit (windows sit on one global grid)."""
    generator = build_generator(CCGANConfig(ngf=4, netG="resnet_6blocks", seg_target="bc"))
    volume = volumes((3, 45, 52))[0]
    whole, whole_seg = translate(generator, volume, 2, (24, 24), overlap=0.5, block=(3, 45, 52))
    for block in [(1, 16, 16), (2, 45, 20)]:
        image, seg = translate(generator, volume, 2, (24, 24), overlap=0.5, block=block)
        assert np.array_equal(image, whole) and np.array_equal(seg, whole_seg)
    batched, _ = translate(generator, volume, 2, (24, 24), overlap=0.5, block=(1, 20, 20), batch_size=4)
    assert np.abs(batched.astype(int) - whole).max() <= 1  # batching may change float rounding only


def test_translate_2d_whole_slice_equals_generator():
    """One window per slice: the output is the generator's own output (to uint8 rounding)."""
    generator = build_generator(CCGANConfig(ngf=4, netG="resnet_6blocks")).eval()
    volume = volumes((2, 40, 48))[0]
    image, _ = translate(generator, volume, 2, (40, 48), overlap=0.0)
    with torch.no_grad():
        direct = generator(torch.from_numpy(to_unit(volume))[:, None])[0][:, 0].numpy()
    expected = np.clip(np.rint((direct + 1) * 127.5), 0, 255)
    assert np.abs(image.astype(int) - expected).max() <= 1 and np.mean(image == expected) > 0.99


@pytest.mark.parametrize("netG", ["resnet_6blocks", "unet_3d"])
def test_translate_3d_blockwise_is_exact(netG):  # noqa: N803
    config = CCGANConfig(dims=3, patch=(8, 16, 16), ngf=2, netG=netG, unet_filters=(4, 4, 4), seg_target="bcd")
    generator = build_generator(config)
    volume = volumes((13, 30, 37))[0]
    whole, whole_seg = translate(generator, volume, 3, (8, 16, 16), block=volume.shape, blend="linear")
    image, seg = translate(generator, volume, 3, (8, 16, 16), block=(5, 11, 16), blend="linear")
    assert np.array_equal(image, whole) and np.array_equal(seg, whole_seg)
    assert seg.shape == (3, 13, 30, 37)


def test_translate_small_volume_and_zarr():
    """A volume smaller than the patch is reflect-padded; zarr arrays work as input and output."""
    generator = build_generator(CCGANConfig(dims=3, patch=(8, 16, 16), ngf=2, netG="resnet_6blocks", seg_head=False))
    volume = zarr.array(volumes((5, 12, 40))[0], chunks=(5, 8, 8))
    out = zarr.zeros(volume.shape, chunks=(5, 8, 8), dtype=np.uint8)
    translate_volume(
        generator, array_reader(volume), array_writer(out), volume.shape, 3, (8, 16, 16), block=(5, 12, 20)
    )
    expected = np.zeros(volume.shape, np.uint8)
    translate_volume(generator, array_reader(volume[:]), array_writer(expected), volume.shape, 3, (8, 16, 16))
    assert np.array_equal(out[:], expected) and expected.std() > 0
