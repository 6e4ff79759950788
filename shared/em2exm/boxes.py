"""Box arithmetic shared by the blockwise sliding-window passes (CCGAN translation, U-Net inference)."""

from __future__ import annotations

from collections.abc import Sequence


def window_overlap(
    start: Sequence[int], size: Sequence[int], core: Sequence[slice]
) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    """Slices of a window at ``start`` of ``size`` (src) and of the ``core`` box (dst) where they intersect."""
    src, dst = [], []
    for s, n, c in zip(start, size, core):
        lo, hi = max(s, c.start), min(s + n, c.stop)
        src.append(slice(lo - s, hi - s))
        dst.append(slice(lo - c.start, hi - c.start))
    return tuple(src), tuple(dst)
