"""seg-infer's sliding window: PyTC's grid (stride rounded down) and Gaussian blending, on :mod:`em2exm.tiling`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from em2exm.tiling import Triple, WindowGrid, stride_for, triple, window_weights

Blending = Literal["gaussian", "constant"]


@dataclass(frozen=True)
class SlidingWindow(WindowGrid):
    """Window size, stride, reflect padding (voxels per side) and blending weights of the inference grid."""

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
        """Stride ``size * (1 - overlap)`` rounded down (at least 1), as PyTC."""
        return cls(triple(size), stride_for(size, overlap), triple(pad), blending, sigma)

    def weights(self) -> np.ndarray:
        """Blending weights of one window (read-only float32): PyTC's Gaussian or constant ones."""
        if self.blending not in ("gaussian", "constant"):
            raise ValueError(f"unknown blending {self.blending!r}")
        return window_weights(tuple(self.size), self.blending, float(self.sigma), "pytc")
