"""Blending overlapping windows: one weight function and the accumulator that divides by the summed weights."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Literal

import numpy as np

from em2exm.tiling.grid import Box, Triple
from em2exm.tiling.windows import window_overlap

Blend = Literal["gaussian", "linear", "constant"]
Gaussian = Literal["pytc", "separable"]
FLOOR = np.float32(1e-4)
"""Added to Gaussian weights so that every voxel of a window counts."""


@lru_cache(maxsize=8)
def window_weights(size: Triple, blend: Blend = "gaussian", sigma: float = 0.2, gaussian: Gaussian = "pytc") -> np.ndarray:
    """Weights of one window (read-only float32, > 0).

    ``gaussian``: ``1e-4 + exp(-r^2 / (2 sigma^2))``, r the distance in [-1, 1] window coordinates, evaluated as
    ``gaussian`` says: ``'pytc'`` is PyTC's ``blend_gaussian`` (radial, float32; a 1-voxel axis sits at r = -1),
    ``'separable'`` a product of per-axis profiles computed in float64 (a 1-voxel axis is flat; the CCGAN
    transfer's). ``linear``: a separable ramp ``min(i + 1, w - i) / ceil(w / 2)``. ``constant``: ones.
    """
    if blend == "gaussian" and gaussian == "pytc":
        axes = [np.linspace(-1, 1, n, dtype=np.float32) for n in size]
        zz, yy, xx = np.meshgrid(*axes, indexing="ij")
        dd = np.sqrt(zz * zz + yy * yy + xx * xx)
        weight = (1e-4 + np.exp(-(dd**2 / (2.0 * sigma**2)))).astype(np.float32)
    elif blend == "constant":
        weight = np.ones(size, np.float32)
    elif blend in ("gaussian", "linear"):
        weight = np.ones(size, np.float32)
        for axis, w in enumerate(size):
            if w > 1:
                weight *= _profile(w, blend, sigma).astype(np.float32).reshape([-1 if a == axis else 1 for a in range(3)])
        if blend == "gaussian":
            weight = weight + FLOOR
    else:
        raise ValueError(f"unknown blend {blend!r}")
    weight.flags.writeable = False
    return weight


def _profile(w: int, blend: Blend, sigma: float) -> np.ndarray:
    if blend == "gaussian":
        return np.exp(-(np.linspace(-1.0, 1.0, w) ** 2) / (2 * sigma**2))
    i = np.arange(w)
    return np.minimum(i + 1, w - i) / ((w + 1) // 2)


class Blender:
    """Sums window outputs (C, *window) times their weights into one ``box``; :meth:`result` normalises.

    Windows are added in the caller's order, so a block that adds the same windows in the same global order as a
    whole-volume pass gets the same float32 sums.
    """

    def __init__(self, box: Box, channels: int, weight: np.ndarray) -> None:
        shape = tuple(b.stop - b.start for b in box)
        self.box, self.weight = box, weight
        self.acc = np.zeros((channels, *shape), np.float32)
        self.total = np.zeros(shape, np.float32)

    def add(self, start: Sequence[int], out: np.ndarray) -> None:
        """Blend the output of the window at ``start`` (nothing when it misses the box)."""
        src, dst = window_overlap(start, self.weight.shape, self.box)
        if any(d.stop <= d.start for d in dst):
            return
        self.acc[(slice(None), *dst)] += out[(slice(None), *src)] * self.weight[src]
        self.total[dst] += self.weight[src]

    def result(self) -> np.ndarray:
        """The weighted mean (C, *box shape), float32 (computed in place: call once)."""
        self.acc /= self.total
        return self.acc
