"""Bounding boxes: restrict decoding to where channel 0 can pass a threshold."""

from __future__ import annotations

import numpy as np

from em2exm.tiling import Box


def _span(profile: np.ndarray, margin: int) -> slice:
    hits = np.flatnonzero(profile)
    return slice(max(int(hits[0]) - margin, 0), min(int(hits[-1]) + 1 + margin, profile.size))


def box_at_least(volume: np.ndarray, floor: int, margin: tuple[int, int, int] = (0, 0, 0)) -> Box | None:
    """Box of voxels with ``volume >= floor``, grown by ``margin`` and clipped; None if there are none."""
    if floor > 255:
        return None
    z_profile = volume.max(axis=(1, 2)) >= floor
    if not z_profile.any():
        return None
    yx = volume.max(axis=0) >= floor
    return (
        _span(z_profile, margin[0]),
        _span(yx.any(axis=1), margin[1]),
        _span(yx.any(axis=0), margin[2]),
    )


def box_shape(box: Box, pad: int = 0) -> tuple[int, int, int]:
    """Shape of ``box`` with ``pad`` voxels added on every side."""
    return tuple(s.stop - s.start + 2 * pad for s in box)
