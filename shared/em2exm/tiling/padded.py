"""Reading any box of a volume, reflect-padded where it leaves the volume, with one read of the voxels inside."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from em2exm.tiling.grid import Box, triple


class Readable(Protocol):
    """A 3-D volume read region by region (numpy, zarr, ome.Regions, a :class:`BoxReader`)."""

    @property
    def shape(self) -> tuple[int, ...]: ...

    def __getitem__(self, box: tuple[slice, ...]) -> Any: ...


class BoxReader:
    """A ``read(box)`` function over a volume of ``shape``, indexable like an array."""

    def __init__(self, read: Callable[[Box], Any], shape: Sequence[int]) -> None:
        self.read, self.shape = read, tuple(int(n) for n in shape)

    def __getitem__(self, box: tuple[slice, ...]) -> Any:
        return self.read(triple(box))


def reflect_index(index: np.ndarray, n: int) -> np.ndarray:
    """Map indices outside [0, n) as ``np.pad(mode='reflect')`` does (edge not repeated; n = 1 repeats it)."""
    if n == 1:
        return np.zeros_like(index)
    period = 2 * (n - 1)
    folded = np.mod(index, period)
    return np.where(folded >= n, period - folded, folded)


def read_padded(volume: Readable, start: Sequence[int], stop: Sequence[int]) -> np.ndarray:
    """``volume[start:stop]`` with reflect padding where the box leaves the volume; one slice read."""
    index = [reflect_index(np.arange(a, b), n) for a, b, n in zip(start, stop, volume.shape)]
    lo = [int(i.min()) for i in index]
    hi = [int(i.max()) + 1 for i in index]
    data = np.asarray(volume[tuple(slice(a, b) for a, b in zip(lo, hi))])
    if all(a == c and b - a == len(i) for a, b, c, i in zip(lo, hi, start, index)):
        return data
    return data[np.ix_(*[i - a for i, a in zip(index, lo)])]
