"""Blockwise inference on a global window grid, so any block split gives the whole-volume result exactly.

The window grid depends only on the volume shape and the ``SlidingWindow``, and windows are batched in
fixed global groups of ``batch_size`` consecutive windows (z-major order). A block runs every group holding
a window that overlaps its core and blends those windows, in global order, into the core alone. Each core
voxel therefore sees the same forward passes, values and summation order as in one whole-volume pass
(oneDNN/cuDNN results can depend on a window's batch partners, hence the fixed groups). Peak memory follows
the block (core plus about one window of context per side), not the volume.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from em2exm.boxes import window_overlap
from em2exm.seg.heads import normalize_image, out_channels
from em2exm.seg.predict import Predictor
from em2exm.seg.window import SlidingWindow, read_reflect

Triple = tuple[int, int, int]


@dataclass(frozen=True)
class Block:
    """One unit of work: the core it writes and the global window batches it runs."""

    index: int
    core: tuple[slice, slice, slice]
    batches: tuple[tuple[Triple, ...], ...]
    window: SlidingWindow
    batch_size: int

    @property
    def read(self) -> tuple[Triple, Triple]:
        """(start, stop) of the input box, in volume coordinates (may reach into the reflect padding)."""
        windows = [w for batch in self.batches for w in batch]
        start = tuple(min(w[a] for w in windows) for a in range(3))
        stop = tuple(max(w[a] for w in windows) + self.window.size[a] for a in range(3))
        return start, stop  # type: ignore[return-value]


class BlockPlan:
    """A regular grid of block cores over a volume; blocks are addressed by index (z-major order)."""

    def __init__(self, shape: Triple, block_shape: Triple, window: SlidingWindow, batch_size: int = 2) -> None:
        if min(block_shape) < 1 or batch_size < 1:
            raise ValueError("block sizes and batch_size must be >= 1")
        self.shape = tuple(int(n) for n in shape)
        self.block_shape = tuple(int(n) for n in block_shape)
        self.window = window
        self.batch_size = batch_size
        self.grid = tuple(-(-n // b) for n, b in zip(self.shape, self.block_shape))
        self._starts = window.starts(self.shape)  # type: ignore[arg-type]
        self._counts = tuple(len(s) for s in self._starts)

    def __len__(self) -> int:
        return int(np.prod(self.grid))

    def __getitem__(self, index: int) -> Block:
        if not 0 <= index < len(self):
            raise IndexError(f"block {index} out of range 0..{len(self) - 1}")
        position = [int(p) for p in np.unravel_index(index, self.grid)]
        core = tuple(slice(p * b, min((p + 1) * b, n)) for p, b, n in zip(position, self.block_shape, self.shape))
        per_axis = [
            [k for k, s in enumerate(starts) if s < c.stop and s + w > c.start]
            for starts, c, w in zip(self._starts, core, self.window.size)
        ]
        needed = np.ravel_multi_index(np.array(list(itertools.product(*per_axis))).T, self._counts)
        total = int(np.prod(self._counts))
        batches = tuple(
            tuple(self._window(i) for i in range(g * self.batch_size, min((g + 1) * self.batch_size, total)))
            for g in np.unique(needed // self.batch_size).tolist()
        )
        return Block(index, core, batches, self.window, self.batch_size)  # type: ignore[arg-type]

    def _window(self, flat: int) -> Triple:
        return tuple(self._starts[a][k] for a, k in enumerate(np.unravel_index(flat, self._counts)))  # type: ignore[return-value]

    def __iter__(self) -> Iterator[Block]:
        return (self[i] for i in range(len(self)))


def infer_block(model: Predictor, volume: Any, block: Block) -> np.ndarray:
    """uint8 maps (C, *core shape) = trunc(255 * blended prediction) for one block of ``volume`` (Z, Y, X)."""
    if model.batch_size != block.batch_size:
        raise ValueError(f"predictor batch_size {model.batch_size} != plan batch_size {block.batch_size}")
    start, _ = block.read
    image = normalize_image(read_reflect(volume, *block.read))
    size = block.window.size
    weight = block.window.weights()
    core_shape = tuple(c.stop - c.start for c in block.core)
    acc = np.zeros((out_channels(model.target), *core_shape), np.float32)
    total = np.zeros(core_shape, np.float32)
    for batch in block.batches:
        crops = [image[tuple(slice(w - s, w - s + n) for w, s, n in zip(win, start, size))] for win in batch]
        for win, out in zip(batch, model(np.stack(crops))):
            src, dst = window_overlap(win, size, block.core)
            if any(d.stop <= d.start for d in dst):
                continue  # a batch partner outside this core
            acc[(slice(None), *dst)] += out[(slice(None), *src)] * weight[src]
            total[dst] += weight[src]
    acc /= total
    acc *= 255
    return acc.astype(np.uint8)



def infer_volume(
    model: Predictor, volume: Any, plan: BlockPlan, out: Any | None = None, blocks: Iterable[int] | None = None
) -> Any:
    """Run ``blocks`` (default: all) of ``plan`` and write each core into ``out`` (C, Z, Y, X) uint8.

    ``out`` may be any array-like supporting slice assignment (numpy, zarr); a numpy array is made if omitted.
    """
    if tuple(volume.shape) != plan.shape:
        raise ValueError(f"volume shape {tuple(volume.shape)} does not match the plan {plan.shape}")
    for index in range(len(plan)) if blocks is None else blocks:
        block = plan[index]
        result = infer_block(model, volume, block)
        if out is None:
            out = np.zeros((result.shape[0], *plan.shape), np.uint8)
        out[(slice(None), *block.core)] = result
    return out
