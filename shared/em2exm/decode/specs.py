"""A decoder's settings, checked once: what the whole-volume and the blockwise decodes both run from."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from em2exm.decode.inputs import as_uint8_maps
from em2exm.decode.rules import Rules
from em2exm.tiling import triple


@dataclass(frozen=True)
class Watershed:
    """Seeded watershed (bc_watershed, bcd_watershed, binary_watershed): seeds where ``rules.seed``
    holds (26-connected, kept from ``seed_min`` voxels), flooded 6-connected over ``-maps[0]`` inside
    ``rules.fg``, instances kept from ``small_min`` voxels."""

    name: str
    channels: int
    exact: bool
    rules: Rules = field(repr=False)
    seed_min: int
    small_min: int
    float_scale: float | None = None

    @property
    def halo(self) -> tuple[int, int, int]:
        """Context a block needs: one voxel, for seeds that touch across a block's faces, edges or corners."""
        return (1, 1, 1)

    def maps(self, volume: np.ndarray) -> np.ndarray:
        """``volume`` as the checked uint8 (C, Z, Y, X) maps this decoder reads."""
        maps = as_uint8_maps(volume, self.name, self.channels, self.exact, self.float_scale)
        return maps if self.exact else maps[:self.channels]


@dataclass(frozen=True)
class Connected:
    """bc_connected: voxels where every channel passes ``table`` labelled 26-connected, grey-dilated
    with ``ones(dilation)`` (larger id wins), instances kept from ``small_min`` voxels."""

    name: str
    table: np.ndarray = field(repr=False)
    dilation: tuple[int, int, int]
    small_min: int
    float_scale: float | None = None
    channels: int = 2
    exact: bool = True

    @property
    def halo(self) -> tuple[int, int, int]:
        """Context a block needs: the dilation's reach, and one voxel for components touching across faces."""
        return triple(max(s // 2, 1) for s in self.dilation)

    def maps(self, volume: np.ndarray) -> np.ndarray:
        """``volume`` as the checked uint8 (C, Z, Y, X) maps this decoder reads."""
        return as_uint8_maps(volume, self.name, self.channels, self.exact, self.float_scale)


Spec = Watershed | Connected
