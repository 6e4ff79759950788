"""Patch augmentation on (image, labels) numpy pairs: exact geometric moves first, then blur, intensity, noise."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from em2exm.seg.config import AugmentConfig

ELASTIC_ALPHA, ELASTIC_SIGMA = 6.0, 4.0  # in-plane displacement (pixels) and smoothness
CONTRAST, BRIGHTNESS = 0.3, 0.2  # PyTC Grayscale-like ranges
MISSING_P = 0.1  # chance per z-slice of being blanked


def draw_turns(config: AugmentConfig, rng: np.random.Generator) -> int:
    """Draw the in-plane quarter turns (0-3); odd values need a y/x-swapped source patch."""
    return int(rng.integers(4)) if config.rot90 else 0


def augment(
    image: np.ndarray, labels: np.ndarray, turns: int, config: AugmentConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Flip/rotate/deform both arrays alike, then blur, perturb intensity and add noise (image float32 in [0, 1])."""
    image, labels = np.rot90(image, turns, axes=(1, 2)), np.rot90(labels, turns, axes=(1, 2))
    if config.flip:
        for axis in range(3):
            if rng.random() < 0.5:
                image, labels = np.flip(image, axis), np.flip(labels, axis)
    image, labels = np.ascontiguousarray(image), np.ascontiguousarray(labels)
    if config.elastic:
        image, labels = _elastic(image, labels, rng)
    if max(config.blur_sigma) > 0 and rng.random() < 0.5:
        image = ndimage.gaussian_filter(image, np.multiply(config.blur_sigma, rng.uniform()), mode="reflect")
    if config.intensity:
        image = _intensity(image, rng)
    if config.noise_std > 0 and rng.random() < 0.5:
        image = _noise(image, config.noise_std * rng.uniform(), rng)
    if config.missing_slice:
        image[rng.random(image.shape[0]) < MISSING_P] = 0
    return image, labels


def _elastic(image: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One smooth in-plane displacement field for all slices; labels by nearest neighbour."""
    _, ny, nx = image.shape
    field = [ndimage.gaussian_filter(rng.uniform(-1, 1, (ny, nx)), ELASTIC_SIGMA) for _ in range(2)]
    scale = ELASTIC_ALPHA / max(float(np.abs(field).max()), 1e-6)
    yy, xx = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
    coords = [yy + scale * field[0], xx + scale * field[1]]
    return _warp(image, coords, 1).astype(np.float32), _warp(labels, coords, 0).astype(labels.dtype)


def _warp(volume: np.ndarray, coords: list[np.ndarray], order: int) -> np.ndarray:
    return np.stack([ndimage.map_coordinates(s, coords, order=order, mode="reflect") for s in volume])


def _noise(image: np.ndarray, std: float, rng: np.random.Generator) -> np.ndarray:
    """Additive Gaussian noise of ``std``, clipped to [0, 1]."""
    out = image + rng.normal(0.0, std, image.shape).astype(np.float32)
    return np.clip(out, 0, 1, out=out)


def _intensity(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random contrast, brightness and gamma, clipped to [0, 1]."""
    out = image * np.float32(1 + rng.uniform(-CONTRAST, CONTRAST)) + np.float32(rng.uniform(-BRIGHTNESS, BRIGHTNESS))
    np.clip(out, 0, 1, out=out)
    return out ** np.float32(2.0 ** rng.uniform(-1, 1))
