"""The no-learning baseline: make EM look like ExM by polarity, blur and histogram alone.

A user's first try before any CycleGAN (the source is the EM image, or its labels drawn as membranes): invert the EM when its polarity is opposite to the ExM volume's
(membranes dark on bright vs bright on dark, told by the sign of each histogram's skewness), blur it to the
ExM resolution (a Gaussian of the given target resolution, or one whose short-range autocorrelation matches the
ExM volume's: white noise only changes lag 0, so lags 1..4 measure the blur), then map its grey levels onto the
ExM histogram (CDF matching, as scikit-image's ``match_histograms`` does, as a 256-entry table).

Every step is a function of global coordinates, so a block computed with its halo equals the same voxels of
the whole volume.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from em2exm.seg.targets import instance_contour
from em2exm.tiling import Box, Readable, read_padded, triple

FWHM_PER_SIGMA = float(2.0 * np.sqrt(2.0 * np.log(2.0)))
SIGMA_GRID = np.arange(0.0, 6.01, 0.25)
LAGS = (1, 2, 3, 4)


def histogram(data: np.ndarray) -> np.ndarray:
    """Counts of the 256 grey levels of uint8 ``data``."""
    return np.bincount(data.ravel(), minlength=256).astype(np.int64)


def skewness(counts: np.ndarray) -> float:
    """Sample skewness of the grey levels counted in ``counts``."""
    levels = np.arange(counts.size, dtype=np.float64)
    total = counts.sum()
    mean = (levels * counts).sum() / total
    centred = levels - mean
    variance = (centred**2 * counts).sum() / total
    return float((centred**3 * counts).sum() / total / max(variance, 1e-12) ** 1.5)


def opposite_polarity(source_counts: np.ndarray, target_counts: np.ndarray) -> bool:
    """Whether the source's grey levels run the other way from the target's (skewness of opposite sign)."""
    return skewness(source_counts) * skewness(target_counts) < 0


def autocorrelation(data: np.ndarray, axis: int) -> np.ndarray:
    """Autocovariance at ``LAGS`` along ``axis``, divided by the lag-1 value (white noise drops out)."""
    x = data.astype(np.float64) - data.mean()
    values = []
    for lag in LAGS:
        a = np.take(x, range(0, x.shape[axis] - lag), axis=axis)
        b = np.take(x, range(lag, x.shape[axis]), axis=axis)
        values.append(float((a * b).mean()))
    return np.array(values) / max(abs(values[0]), 1e-12)


def matching_sigma(source: np.ndarray, target: np.ndarray, axis: int) -> float:
    """The Gaussian sigma (voxels, along ``axis``) whose blur gives the source the target's short-range
    autocorrelation; 0 when the source is already as smooth (an axis shorter than 2 * max lag gives 0)."""
    if min(source.shape[axis], target.shape[axis]) <= 2 * LAGS[-1]:
        return 0.0
    wanted = autocorrelation(target, axis)
    errors = [np.square(autocorrelation(ndi.gaussian_filter1d(source.astype(np.float32), s, axis=axis, mode="mirror")
                                        if s > 0 else source, axis) - wanted).sum() for s in SIGMA_GRID]
    return float(SIGMA_GRID[int(np.argmin(errors))])


def sigma_from_resolution(fwhm_nm: Sequence[float], voxel_nm: Sequence[float]) -> tuple[float, float, float]:
    """Gaussian sigma in voxels of a resolution given as FWHM in nanometres."""
    return triple(float(f) / FWHM_PER_SIGMA / float(v) for f, v in zip(fwhm_nm, voxel_nm))


def cdf_table(source_counts: np.ndarray, target_counts: np.ndarray) -> np.ndarray:
    """uint8 lookup table that gives the source levels the target's histogram (each source level goes to the
    target level at the same cumulative fraction, interpolated between target quantiles)."""
    source_cdf = np.cumsum(source_counts) / max(source_counts.sum(), 1)
    target_cdf = np.cumsum(target_counts) / max(target_counts.sum(), 1)
    present = target_counts > 0
    mapped = np.interp(source_cdf, target_cdf[present], np.arange(256)[present])
    return np.clip(np.round(mapped), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Transform:
    """Polarity and blur of the source, decided once for the whole volume."""

    invert: bool
    sigma: tuple[float, float, float]

    @property
    def halo(self) -> tuple[int, int, int]:
        """Voxels of context a block needs: scipy's kernel radius at ``truncate=4``."""
        return triple(int(4.0 * s + 0.5) for s in self.sigma)

    def block(self, volume: Readable, box: Box) -> np.ndarray:
        """The source's ``box`` inverted and blurred, quantised to uint8 (before histogram matching)."""
        start = tuple(s.start - h for s, h in zip(box, self.halo))
        stop = tuple(s.stop + h for s, h in zip(box, self.halo))
        data = read_padded(volume, start, stop).astype(np.float32)
        if self.invert:
            data = 255.0 - data
        if any(s > 0 for s in self.sigma):
            data = ndi.gaussian_filter(data, self.sigma, mode="mirror")
        core = tuple(slice(h, h + s.stop - s.start) for h, s in zip(self.halo, box))
        return np.clip(np.round(data[core]), 0, 255).astype(np.uint8)


class DrawnMembranes:
    """Instance labels as a membrane image, read region by region like an image: 255 on a band two voxels wide
    at every boundary between instances (in z, y and x), 0 elsewhere. A region reads one voxel of context, so
    any block split gives the same voxels as the whole volume."""

    def __init__(self, labels: Readable) -> None:
        self.labels = labels

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.labels.shape)

    def __getitem__(self, box: tuple[slice, ...]) -> np.ndarray:
        start = [max(s.start - 1, 0) for s in box]
        stop = [min(s.stop + 1, n) for s, n in zip(box, self.shape)]
        labels = np.asarray(self.labels[tuple(slice(a, b) for a, b in zip(start, stop))])
        band = instance_contour(labels, k=0, axes=(0, 1, 2))
        core = tuple(slice(s.start - a, s.stop - a) for s, a in zip(box, start))
        return (band[core] * 255).astype(np.uint8)
