"""The detector: Poisson photon counts plus Gaussian read noise, converted to uint8 by a fixed gain.

Noise is drawn per tile of ``NOISE_TILE`` output voxels on a global grid, each tile from its own generator
``default_rng([seed, 1, tz, ty, tx])``; blocks are whole tiles, so a voxel gets the same draw whatever the
block plan.  Digital numbers are ``round(gain * counts)`` clipped to 0..255 with
``gain = 255 / (background + photons)``: the expected count of fully stained tissue maps to 255, the same gain
for every block (never per-block percentiles).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from em2exm.simulate.options import NOISE_TILE
from em2exm.tiling import tile


def gain(photons: float, background: float) -> float:
    """Digital numbers per photo-electron."""
    return 255.0 / (background + photons)


@dataclass
class Clipped:
    """Voxels whose value fell outside 0..255 and were clipped."""

    low: int = 0
    high: int = 0


def expose(expected: np.ndarray, origin: tuple[int, int, int], seed: int, read_noise: float,
           scale: float) -> tuple[np.ndarray, Clipped]:
    """uint8 image of the ``expected`` photons of a block starting at output voxel ``origin`` (tile-aligned)."""
    image = np.empty(expected.shape, np.uint8)
    clipped = Clipped()
    for box in tile(expected.shape, NOISE_TILE):
        key = [(o + b.start) // t for o, b, t in zip(origin, box, NOISE_TILE)]
        rng = np.random.default_rng([seed, 1, *key])
        lam = expected[box]
        counts = rng.poisson(lam) + (rng.normal(0.0, read_noise, lam.shape) if read_noise > 0 else 0.0)
        value = np.rint(counts * scale)
        clipped.low += int(np.count_nonzero(value < 0))
        clipped.high += int(np.count_nonzero(value > 255))
        image[box] = np.clip(value, 0, 255)
    return image, clipped
