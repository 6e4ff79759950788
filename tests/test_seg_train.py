"""Config, losses, augmentation, patch sampling (numpy and zarr), trainer step/resume, and a real training run."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
import torch
import zarr
from em2exm.errors import UserError
from em2exm.seg.augment import augment
from em2exm.seg.checkpoint import checkpoint_bytes, load_checkpoint
from em2exm.seg.config import AugmentConfig, SegTrainConfig
from em2exm.seg.losses import SegLoss, balance_weight, dice_loss
from em2exm.seg.sampler import LabelledVolume, PatchSampler
from em2exm.seg.trainer import SegTrainer
from pydantic import ValidationError

GALA = "/work/shared/data/em/gala_fibsem_train"


def synthetic(shape=(8, 40, 40), seed=0) -> tuple[np.ndarray, np.ndarray]:
    """Bright blobs (instances) on a dark background."""
    rng = np.random.default_rng(seed)
    labels = np.zeros(shape, np.uint16)
    for i in range(1, 9):
        z, y, x = (rng.integers(0, n) for n in shape)
        labels[max(z - 2, 0) : z + 2, max(y - 5, 0) : y + 5, max(x - 5, 0) : x + 5] = i
    image = np.where(labels > 0, 200, 40).astype(np.uint8) + rng.integers(0, 20, shape, dtype=np.uint8)
    return image, labels


def small_config(**changes) -> SegTrainConfig:
    options = {"preset": "light", "patch": (5, 17, 17), "batch": 1, "iterations": 4, "val_max_patches": 2}
    return SegTrainConfig(**{**options, **changes})


def test_config_rejects_unknown_and_bad_values():
    with pytest.raises(ValidationError):
        SegTrainConfig(epochs=3)
    with pytest.raises(ValidationError):
        SegTrainConfig(target="abc")
    with pytest.raises(ValidationError):
        SegTrainConfig(patch=(0, 16, 16))
    with pytest.raises(ValidationError):
        SegTrainConfig(augment={"mixup": True})
    assert SegTrainConfig().distance_bg == -1.0 and SegTrainConfig().preset == "pytc"


def test_balance_weight_matches_pytc_ratio():
    t = torch.zeros(1, 4, 5)
    t[0, 0, :2] = 1  # 10% foreground -> foreground weighted 0.9 / 0.1 = 9
    w = balance_weight(t)
    assert w[0, 0, 0] == pytest.approx(9.0) and w[0, 3, 3] == 1.0
    assert torch.equal(balance_weight(torch.ones(1, 2, 2)), torch.ones(1, 2, 2))
    assert dice_loss(torch.ones(1, 4), torch.ones(1, 4)) == pytest.approx(0.0)


def test_loss_parts_and_weights():
    logits = torch.zeros(2, 3, 2, 4, 4)
    targets = torch.zeros(2, 3, 2, 4, 4)
    total, parts = SegLoss("bcd", balance=False)(logits, targets)
    bce = float(np.log(2))
    dice = 1 - 100 / (0.5 * 32 + 100)
    assert parts["B"] == pytest.approx(bce + 0.5 * dice, rel=1e-5)
    assert parts["D"] == 0.0 and float(total) == pytest.approx(2 * parts["B"], rel=1e-5)


def test_augment_moves_image_and_labels_together():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, (4, 6, 6)).astype(np.uint16)
    image = labels.astype(np.float32) / 10
    config = AugmentConfig(intensity=False, elastic=False)
    for turns in range(4):
        img, lab = augment(image, labels, turns, config, rng)
        np.testing.assert_array_equal(img, lab.astype(np.float32) / 10)
    warped_img, warped_lab = augment(
        image, labels, 0, AugmentConfig(elastic=True, intensity=True, missing_slice=True), rng
    )
    assert warped_img.shape == image.shape and warped_lab.dtype == labels.dtype
    assert 0 <= warped_img.min() and warped_img.max() <= 1


def test_blur_and_noise_augmentation_change_only_the_image():
    """Blur lowers the step contrast at instance edges, noise raises the variance inside flat regions."""
    labels = np.zeros((6, 32, 32), np.uint16)
    labels[:, :, 16:] = 1
    image = labels.astype(np.float32) * 0.6 + 0.2
    plain = AugmentConfig(flip=False, rot90=False, intensity=False)
    blurs, noisy = [], []
    for seed in range(8):
        blurred, lab = augment(image, labels, 0, plain.model_copy(update={"blur_sigma": (0, 3, 3)}),
                               np.random.default_rng(seed))
        np.testing.assert_array_equal(lab, labels)
        blurs.append(float(np.abs(np.diff(blurred, axis=2)).max()))
        noised, _ = augment(image, labels, 0, plain.model_copy(update={"noise_std": 0.2}), np.random.default_rng(seed))
        noisy.append(float(noised[:, :, :8].std()))
        assert 0 <= noised.min() and noised.max() <= 1
    assert min(blurs) < 0.3 and max(blurs) == pytest.approx(0.6)  # some patches blurred, others untouched
    assert max(noisy) > 0.02 and min(noisy) < 1e-6
    with pytest.raises(ValueError, match="blur_sigma"):
        AugmentConfig(blur_sigma=(0, -1, 1))


def test_sampler_reads_zarr_and_checks_region():
    image, labels = synthetic()
    z_img = zarr.create_array(store={}, shape=image.shape, chunks=(4, 20, 20), dtype=image.dtype)
    z_lab = zarr.create_array(store={}, shape=labels.shape, chunks=(4, 20, 20), dtype=labels.dtype)
    z_img[:], z_lab[:] = image, labels
    config = small_config(patch=(5, 17, 21))
    x, t = PatchSampler(LabelledVolume(z_img, z_lab), config, np.random.default_rng(0)).batch(3)
    assert x.shape == (3, 1, 5, 17, 21) and t.shape == (3, 3, 5, 17, 21) and x.dtype == t.dtype == np.float32
    assert -1 <= x.min() and x.max() <= 1 and set(np.unique(t[:, 0])) <= {0.0, 1.0}
    with pytest.raises(UserError):
        PatchSampler(
            LabelledVolume(image, labels, (slice(0, 3), slice(None), slice(None))), config, np.random.default_rng(0)
        )


def test_trainer_resumes_exactly_from_checkpoint_bytes():
    image, labels = synthetic()
    train = LabelledVolume(image, labels, (slice(None), slice(None), slice(0, 24)))
    val = LabelledVolume(image, labels, (slice(None), slice(None), slice(20, 40)))
    first = SegTrainer(small_config(), train, val, device="cpu")
    first.step()
    blob = checkpoint_bytes(first.state_dict())
    expected = first.step()
    second = SegTrainer(small_config(seed=5), train, val, device="cpu")
    second.load_state_dict(load_checkpoint(blob))
    assert second.iteration == 1
    assert second.step() == pytest.approx(expected, rel=1e-5)
    record = second.validate()
    assert set(record) == {"val_loss", "f1"} and 0 <= record["f1"] <= 1
    history = second.fit()
    assert second.iteration == 4 and history[-1]["iteration"] == 4


@pytest.mark.slow
def test_training_on_gala_learns_foreground():
    """Light preset, 300 iterations on x < 130 of gala; validation on the held-out x >= 130 crop."""
    image = tifffile.imread(f"{GALA}/raw.tif")
    labels = tifffile.imread(f"{GALA}/labels.tif")
    config = SegTrainConfig(
        preset="light",
        target="bcd",
        patch=(9, 49, 49),
        batch=2,
        lr=2e-3,
        iterations=300,
        val_interval=100,
        val_max_patches=8,
        voxel_size=(10.0, 10.0, 10.0),
    )
    train = LabelledVolume(image, labels, (slice(None), slice(None), slice(0, 130)))
    held_out = LabelledVolume(image, labels, (slice(None), slice(None), slice(130, 200)))
    trainer = SegTrainer(config, train, held_out, device="cpu")
    before = trainer.validate()
    history = trainer.fit()
    after = history[-1]
    assert after["val_loss"] < 0.6 * before["val_loss"]
    assert after["f1"] > 0.8
