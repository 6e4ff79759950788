"""PyTC v1.0's threshold rules as per-channel lookup tables over the 256 uint8 values.

A voxel is foreground (seed) when, for every channel c, ``fg[c, value_c]`` (``seed[c, value_c]``)
holds. Building the tables with PyTC's own expressions (``v > int(255*t)``, ``v < int(255*t)``,
``v/255*2-1 > t`` in float64) keeps every comparison, rounding included, exactly as PyTC does it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_VALUES = np.arange(256, dtype=np.uint8)


@dataclass(frozen=True)
class Rules:
    """Foreground and seed tables, shape (C, 256) bool each."""

    fg: np.ndarray
    seed: np.ndarray

    @property
    def floor(self) -> int:
        """Smallest channel-0 value that can be foreground or seed (256 if none)."""
        return floor(self.fg[0] | self.seed[0])


def floor(test: np.ndarray) -> int:
    """Smallest value passing a 256-entry test (256 if none)."""
    hits = np.flatnonzero(test)
    return int(hits[0]) if hits.size else 256


def above(t: float) -> np.ndarray:
    """``v > int(255*t)``: PyTC's probability test."""
    return _VALUES > int(255 * t)


def below(t: float) -> np.ndarray:
    """``v < int(255*t)``: PyTC's contour test."""
    return _VALUES < int(255 * t)


def distance_above(t: float) -> np.ndarray:
    """``v/255*2-1 > t`` in float64: PyTC v1.0's signed-distance test."""
    return (_VALUES / 255.0) * 2.0 - 1.0 > t


def table(*channels: np.ndarray) -> np.ndarray:
    """Stack per-channel tests into a (C, 256) table."""
    return np.stack(channels)


ANY = np.ones(256, dtype=bool)
