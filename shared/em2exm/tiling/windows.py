"""Sliding-window grids: window starts over a volume, the windows a box needs, where a window meets a box.

Windows lie on one global grid fixed by the volume shape alone (every ``stride`` from the padded start, the last
window flush with the padded end), so a block that computes the windows overlapping its core sees exactly the
windows of a whole-volume pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from em2exm.tiling.grid import Box, Triple, triple

Rounding = Literal["floor", "nearest"]
Spare = Literal["after", "before"]


def stride_for(size: Sequence[int], overlap: float, rounding: Rounding = "floor") -> Triple:
    """``size * (1 - overlap)`` per axis, at least 1: rounded down (PyTC, seg-infer) or to the nearest integer
    (Python's ``round``, ties to even: the CCGAN transfer)."""
    if not 0 <= overlap < 1:
        raise ValueError("overlap must be in [0, 1)")
    to_int = int if rounding == "floor" else round
    return triple(max(1, to_int(n * (1 - overlap))) for n in size)


@dataclass(frozen=True)
class WindowGrid:
    """Window ``size``, ``stride`` and reflect padding ``pad`` (voxels per side) of a sliding-window pass.

    ``spare`` (a method argument) says where the odd voxel goes when a volume thinner than the window is padded
    up to it: ``'after'`` (PyTC, seg-infer) or ``'before'`` (the CCGAN transfer's centred window).
    """

    size: Triple
    stride: Triple
    pad: Triple = (0, 0, 0)

    def padding(self, shape: Sequence[int], spare: Spare = "after") -> tuple[Triple, Triple]:
        """(before, after) padding per axis: ``pad`` plus whatever a volume smaller than the window needs."""
        before, after = [], []
        for n, w, p in zip(shape, self.size, self.pad):
            extra = max(w - (n + 2 * p), 0)
            first = extra // 2 if spare == "after" else extra - extra // 2
            before.append(p + first)
            after.append(p + extra - first)
        return triple(before), triple(after)

    def starts(self, shape: Sequence[int], spare: Spare = "after") -> list[list[int]]:
        """Window starts per axis in volume coordinates (negative inside the padding)."""
        before, after = self.padding(shape, spare)
        axes = []
        for n, w, s, lo, hi in zip(shape, self.size, self.stride, before, after):
            span = n + lo + hi
            count = 1 + -(-(span - w) // s)
            axes.append([min(k * s, span - w) - lo for k in range(count)])
        return axes

    def overlapping(self, starts: list[list[int]], box: Box) -> list[list[int]]:
        """Per axis, the indices into ``starts`` of the windows that overlap ``box``."""
        return [
            [k for k, s in enumerate(axis) if s < b.stop and s + w > b.start]
            for axis, b, w in zip(starts, box, self.size)
        ]


def span(windows: Sequence[Sequence[int]], size: Sequence[int]) -> tuple[Triple, Triple]:
    """(start, stop) of the box that holds every window of ``size`` starting at ``windows``."""
    start = triple(min(w[a] for w in windows) for a in range(3))
    stop = triple(max(w[a] for w in windows) + size[a] for a in range(3))
    return start, stop


def window_overlap(start: Sequence[int], size: Sequence[int], box: Box) -> tuple[Box, Box]:
    """Slices of a window at ``start`` of ``size`` (src) and of ``box`` (dst) where they intersect."""
    src, dst = [], []
    for s, n, c in zip(start, size, box):
        lo, hi = max(s, c.start), min(s + n, c.stop)
        src.append(slice(lo - s, hi - s))
        dst.append(slice(lo - c.start, hi - c.start))
    return triple(src), triple(dst)
