"""Where output voxels lie on the label grid: Gaussian sampling taps, nearest label voxels.

Coordinates are global: label voxel ``i`` is centred at ``(i + 0.5) * v_in`` nm and output voxel ``j`` at
``(j + 0.5) * v_out`` nm, so every quantity below depends on the voxel index alone, never on the block that
asks for it.  Positions beyond the label volume read its edge voxel (``nearest`` extension).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from em2exm.tiling import triple

FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))
TRUNCATE = 4.0
"""The PSF is cut at this many sigmas."""


@dataclass(frozen=True)
class Axis:
    """One axis: ``size`` label voxels of ``voxel`` nm sampled by ``out`` output voxels of ``out_voxel`` nm
    through a Gaussian of ``sigma`` label voxels."""

    size: int
    voxel: float
    out: int
    out_voxel: float
    sigma: float

    @property
    def radius(self) -> int:
        """Taps on either side of an output voxel's centre."""
        return max(1, math.ceil(TRUNCATE * self.sigma))

    def centres(self, start: int, stop: int) -> np.ndarray:
        """Centres of output voxels ``start..stop-1`` in label-voxel index units."""
        return (np.arange(start, stop, dtype=np.float64) + 0.5) * (self.out_voxel / self.voxel) - 0.5

    def taps(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """Label indices (n, T) and normalised float32 weights (n, T) of the PSF at output voxels ``start..stop-1``."""
        centres = self.centres(start, stop)
        index = np.floor(centres).astype(np.int64)[:, None] + np.arange(-self.radius, self.radius + 2)
        d2 = (index - centres[:, None]) ** 2
        weights = np.exp(-0.5 * (d2 - d2.min(axis=1, keepdims=True)) / self.sigma**2)
        weights[d2 > max((TRUNCATE * self.sigma) ** 2, 0.25)] = 0.0  # the nearest tap (d <= 0.5) always counts
        weights /= weights.sum(axis=1, keepdims=True)
        return np.clip(index, 0, self.size - 1), weights.astype(np.float32)

    def nearest(self, start: int, stop: int) -> np.ndarray:
        """The label voxel holding each output voxel's centre."""
        centres = (np.arange(start, stop, dtype=np.float64) + 0.5) * (self.out_voxel / self.voxel)
        return np.clip(np.floor(centres).astype(np.int64), 0, self.size - 1)


def output_shape(shape: tuple[int, ...], voxel: tuple[float, ...], out_voxel: tuple[float, ...]) -> tuple[int, int, int]:
    """The output grid covering the label volume's extent (at least one voxel per axis)."""
    return triple(max(1, round(n * v / o)) for n, v, o in zip(shape, voxel, out_voxel))
