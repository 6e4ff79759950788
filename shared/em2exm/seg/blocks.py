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

from em2exm.seg.heads import normalize_image, out_channels
from em2exm.seg.predict import Predictor
from em2exm.seg.window import SlidingWindow
from em2exm.tiling import Blender, BlockGrid, Box, Triple, read_padded, span, triple


@dataclass(frozen=True)
class Block:
    """One unit of work: the core it writes and the global window batches it runs."""

    index: int
    core: Box
    batches: tuple[tuple[Triple, ...], ...]
    window: SlidingWindow
    batch_size: int

    @property
    def read(self) -> tuple[Triple, Triple]:
        """(start, stop) of the input box, in volume coordinates (may reach into the reflect padding)."""
        return span([w for batch in self.batches for w in batch], self.window.size)


class BlockPlan:
    """A regular grid of block cores over a volume; blocks are addressed by index (z-major order)."""

    def __init__(self, shape: Triple, block_shape: Triple, window: SlidingWindow, batch_size: int = 2) -> None:
        if min(block_shape) < 1 or batch_size < 1:
            raise ValueError("block sizes and batch_size must be >= 1")
        self.blocks = BlockGrid(shape, block_shape)
        self.shape, self.block_shape, self.grid = self.blocks.shape, self.blocks.block, self.blocks.grid
        self.window = window
        self.batch_size = batch_size
        self._starts = window.starts(self.shape)
        self._counts = tuple(len(s) for s in self._starts)

    def __len__(self) -> int:
        return len(self.blocks)

    def __getitem__(self, index: int) -> Block:
        core = self.blocks.core(index)
        per_axis = self.window.overlapping(self._starts, core)
        needed = np.ravel_multi_index(np.array(list(itertools.product(*per_axis))).T, self._counts)
        total = int(np.prod(self._counts))
        batches = tuple(
            tuple(self._window(i) for i in range(g * self.batch_size, min((g + 1) * self.batch_size, total)))
            for g in np.unique(needed // self.batch_size).tolist()
        )
        return Block(index, core, batches, self.window, self.batch_size)

    def _window(self, flat: int) -> Triple:
        return triple(self._starts[a][k] for a, k in enumerate(np.unravel_index(flat, self._counts)))

    def __iter__(self) -> Iterator[Block]:
        return (self[i] for i in range(len(self)))


def infer_block(model: Predictor, volume: Any, block: Block) -> np.ndarray:
    """uint8 maps (C, *core shape) = trunc(255 * blended prediction) for one block of ``volume`` (Z, Y, X)."""
    if model.batch_size != block.batch_size:
        raise ValueError(f"predictor batch_size {model.batch_size} != plan batch_size {block.batch_size}")
    start, _ = block.read
    image = normalize_image(read_padded(volume, *block.read))
    size = block.window.size
    blender = Blender(block.core, out_channels(model.target), block.window.weights())
    for batch in block.batches:
        crops = [image[tuple(slice(w - s, w - s + n) for w, s, n in zip(win, start, size))] for win in batch]
        for win, out in zip(batch, model(np.stack(crops))):
            blender.add(win, out)  # a batch partner outside this core adds nothing
    acc = blender.result()
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
