"""Sliding-window geometry: PyTC's Gaussian blending weights, the global window grid, reflect-padded reads."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import numpy as np

Triple = tuple[int, int, int]
Blending = Literal["gaussian", "constant"]


def gaussian_blend(size: Triple, sigma: float = 0.2) -> np.ndarray:
    """PyTC ``blend_gaussian``: ``1e-4 + exp(-r^2 / (2 sigma^2))``, r the distance in [-1, 1]^3 coordinates."""
    axes = [np.linspace(-1, 1, n, dtype=np.float32) for n in size]
    zz, yy, xx = np.meshgrid(*axes, indexing="ij")
    dd = np.sqrt(zz * zz + yy * yy + xx * xx)
    return (1e-4 + np.exp(-(dd**2 / (2.0 * sigma**2)))).astype(np.float32)


@lru_cache(maxsize=4)
def _weights(size: Triple, blending: Blending, sigma: float) -> np.ndarray:
    weights = gaussian_blend(size, sigma) if blending == "gaussian" else np.ones(size, np.float32)
    weights.flags.writeable = False
    return weights


@dataclass(frozen=True)
class SlidingWindow:
    """Window size, stride, reflect padding (voxels per side) and blending weights of the inference grid."""

    size: Triple
    stride: Triple
    pad: Triple = (0, 0, 0)
    blending: Blending = "gaussian"
    sigma: float = 0.2

    @classmethod
    def from_overlap(
        cls,
        size: Triple,
        overlap: float = 0.5,
        pad: Triple = (0, 0, 0),
        blending: Blending = "gaussian",
        sigma: float = 0.2,
    ) -> SlidingWindow:
        """Stride ``size * (1 - overlap)`` (at least 1)."""
        if not 0 <= overlap < 1:
            raise ValueError("overlap must be in [0, 1)")
        stride = tuple(max(1, int(n * (1 - overlap))) for n in size)
        return cls(tuple(size), stride, tuple(pad), blending, sigma)  # type: ignore[arg-type]

    def weights(self) -> np.ndarray:
        """Blending weights of one window (read-only float32): PyTC's Gaussian or constant ones."""
        if self.blending not in ("gaussian", "constant"):
            raise ValueError(f"unknown blending {self.blending!r}")
        return _weights(tuple(self.size), self.blending, float(self.sigma))  # type: ignore[arg-type]

    def padding(self, shape: Triple) -> tuple[Triple, Triple]:
        """(before, after) padding per axis: ``pad`` plus whatever a volume smaller than the window needs."""
        before, after = [], []
        for n, w, p in zip(shape, self.size, self.pad):
            extra = max(w - (n + 2 * p), 0)
            before.append(p + extra // 2)
            after.append(p + extra - extra // 2)
        return tuple(before), tuple(after)  # type: ignore[return-value]

    def starts(self, shape: Triple) -> list[list[int]]:
        """Window starts per axis in volume coordinates (negative inside the padding).

        As PyTC: every ``stride`` from the padded start, the last window flush with the padded end.
        """
        before, after = self.padding(shape)
        axes = []
        for n, w, s, lo, hi in zip(shape, self.size, self.stride, before, after):
            span = n + lo + hi
            count = 1 + -(-(span - w) // s)
            axes.append([min(k * s, span - w) - lo for k in range(count)])
        return axes


def reflect_index(index: np.ndarray, n: int) -> np.ndarray:
    """Map indices outside [0, n) as ``np.pad(mode='reflect')`` does (edge not repeated)."""
    if n == 1:
        return np.zeros_like(index)
    period = 2 * (n - 1)
    folded = np.mod(index, period)
    return np.where(folded >= n, period - folded, folded)


def read_reflect(volume: Any, start: Triple, stop: Triple) -> np.ndarray:
    """``volume[start:stop]`` with reflect padding where the box leaves the volume; one slice read."""
    index = [reflect_index(np.arange(a, b), n) for a, b, n in zip(start, stop, volume.shape)]
    lo = [int(i.min()) for i in index]
    hi = [int(i.max()) + 1 for i in index]
    data = np.asarray(volume[tuple(slice(a, b) for a, b in zip(lo, hi))])
    if all(a == c and b - a == len(i) for a, b, c, i in zip(lo, hi, start, index)):
        return data
    return data[np.ix_(*[i - a for i, a in zip(index, lo)])]
