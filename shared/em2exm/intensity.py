"""Resampling to a physical voxel size and intensity normalisation to uint8."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from scipy import ndimage

from em2exm.tiling.grid import triple


def zoom_factors(voxel_size: Sequence[float], target_voxel_size: Sequence[float]) -> tuple[float, float, float]:
    """Per-axis zoom that turns ``voxel_size`` sampling into ``target_voxel_size`` sampling."""
    return triple(float(v) / float(t) for v, t in zip(voxel_size, target_voxel_size))


def resampled_shape(shape: Sequence[int], factors: Sequence[float]) -> tuple[int, int, int]:
    """Output shape of :func:`resample` (at least one voxel per axis)."""
    return triple(max(1, int(round(s * f))) for s, f in zip(shape, factors))


def resample(volume: np.ndarray, factors: Sequence[float], labels: bool = False) -> np.ndarray:
    """Zoom ``volume`` by ``factors``: nearest for labels, anti-aliased linear for images."""
    if all(abs(f - 1.0) < 1e-6 for f in factors):
        return volume
    out_shape = resampled_shape(volume.shape, factors)
    exact = tuple(o / s for o, s in zip(out_shape, volume.shape))
    if labels:
        return ndimage.zoom(volume, exact, order=0, mode="nearest", grid_mode=True)
    data = volume.astype(np.float32)
    sigma = [max(0.0, (1.0 / f - 1.0) / 2.0) for f in exact]
    if any(s > 0 for s in sigma):
        data = ndimage.gaussian_filter(data, sigma, mode="reflect")
    return ndimage.zoom(data, exact, order=1, mode="nearest", grid_mode=True)


def to_uint8(
    volume: np.ndarray,
    clip_percentiles: tuple[float, float] = (0.5, 99.5),
    histeq: bool = False,
    invert: bool = False,
) -> np.ndarray:
    """Clip to percentiles and rescale to 0..255; optional histogram equalisation and inversion."""
    data = volume.astype(np.float32, copy=False)
    sample = data.ravel()[:: max(1, data.size // 4_000_000)]
    low, high = np.percentile(sample, clip_percentiles)
    if high <= low:
        scaled = np.zeros_like(data)
    else:
        scaled = np.clip((data - low) / (high - low), 0.0, 1.0)
    if histeq:
        from skimage.exposure import equalize_hist

        scaled = equalize_hist(scaled, nbins=256).astype(np.float32)
    if invert:
        scaled = 1.0 - scaled
    return np.round(scaled * 255.0).astype(np.uint8)


def fill_non_finite(volume: np.ndarray, mask: np.ndarray, statistic: Literal["min", "median"]) -> np.ndarray:
    """``volume`` with the voxels in ``mask`` (e.g. NaN/inf) set, in place, to the min or median of the others."""
    volume[mask] = np.nan
    volume[mask] = np.nanmin(volume) if statistic == "min" else np.nanmedian(volume)
    return volume
