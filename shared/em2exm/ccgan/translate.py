"""Apply a generator to a whole volume of any size: 2D slice by slice, 3D blockwise, blended windows.

Windows of ``patch`` voxels lie on one global grid fixed by the volume shape alone (stride
``patch * (1 - overlap)``, the last window flush with the end; a volume smaller than the patch is
reflect-padded). Each block of the output computes the windows overlapping it, in global order, and
blends them (Gaussian or linear weights) into its own voxels only. Every voxel therefore gets the same
sum of the same window outputs whatever the block size: blockwise equals one whole-volume pass exactly
with ``batch_size=1`` (batching windows may move a voxel by one uint8 level, as convolution kernels round
differently per batch size). Memory follows the block, not the volume.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from typing import Any

import numpy as np
import torch

from em2exm.ccgan.heads import Generator, activate
from em2exm.ccgan.sampler import to_unit
from em2exm.tiling import (
    Blend,
    Blender,
    BlockGrid,
    Box,
    BoxReader,
    Triple,
    WindowGrid,
    read_padded,
    span,
    stride_for,
    window_weights,
)

ReadBlock = Callable[[Box], np.ndarray]
WriteBlock = Callable[[Box, np.ndarray, "np.ndarray | None"], None]
SIGMA = 0.25
"""Gaussian blend sigma in [-1, 1] window coordinates (seg-infer keeps PyTC's 0.2)."""


def translate_volume(
    generator: Generator,
    read_block: ReadBlock,
    write_block: WriteBlock,
    shape: Sequence[int],
    dims: int,
    patch: Sequence[int],
    overlap: float = 0.25,
    device: str | torch.device = "cpu",
    *,
    blend: Blend = "gaussian",
    block: Triple | None = None,
    batch_size: int = 1,
    amp: bool = False,
) -> None:
    """Translate a uint8 (Z, Y, X) volume with ``generator`` (eval mode, moved to ``device``).

    ``read_block(box)`` returns the uint8 voxels of an in-bounds box of slices; ``write_block(box, image, seg)``
    receives each output block: the translated image as uint8 (Z, Y, X) and, when the generator has a
    segmentation head, its maps as uint8 (C, Z, Y, X) (probabilities * 255; a distance channel mapped from
    [-1, 1]), else None. ``patch`` is (Y, X) for ``dims`` 2, (Z, Y, X) for 3; ``block`` the output block
    shape (default: one full slice for 2D, 4 x 8 x 8 patches for 3D). ``amp`` autocasts to bfloat16 on CUDA.
    """
    translator = Translator(generator, shape, dims, patch, overlap, device, blend=blend, batch_size=batch_size, amp=amp)
    if block is None:
        w = translator.window
        block = (1, *translator.shape[1:]) if dims == 2 else (4 * w[0], 8 * w[1], 8 * w[2])
    for core in BlockGrid(translator.shape, block).cores():
        write_block(core, *translator(read_block, core))


class Translator:
    """Translates any block of one volume: the window grid and weights are fixed by the volume shape alone.

    Its grid rounds the stride to the nearest voxel and centres a window on a thinner volume with the odd padding
    voxel before it; its Gaussian is separable with sigma :data:`SIGMA` (see :mod:`em2exm.tiling`).
    """

    def __init__(
        self,
        generator: Generator,
        shape: Sequence[int],
        dims: int,
        patch: Sequence[int],
        overlap: float = 0.25,
        device: str | torch.device = "cpu",
        *,
        blend: Blend = "gaussian",
        batch_size: int = 1,
        amp: bool = False,
    ) -> None:
        volume = tuple(int(n) for n in shape)
        window = (1, *patch) if dims == 2 else tuple(patch)
        if len(volume) != 3 or len(window) != 3:
            raise ValueError(f"need a 3-D shape and a {dims}-D patch, got {volume} and {tuple(patch)}")
        self.shape: Triple = volume
        self.window: Triple = window
        self.grid = WindowGrid(self.window, stride_for(self.window, overlap, "nearest"))
        self.starts = self.grid.starts(self.shape, spare="before")
        self.weight = window_weights(self.window, blend, SIGMA, "separable")
        self.batch_size = batch_size
        self.run = _Runner(generator.to(device).eval(), torch.device(device), dims, amp)

    def __call__(self, read_block: ReadBlock, core: Box) -> tuple[np.ndarray, np.ndarray | None]:
        """The uint8 image (Z, Y, X) and seg maps (C, Z, Y, X) or None of the output box ``core``."""
        return _translate_block(self.run, read_block, self.shape, core, self.grid, self.starts, self.weight,
                                self.batch_size)


class _Runner:
    """Batches of uint8 windows -> (image in [-1, 1], activated seg maps or None) as float32 numpy."""

    def __init__(self, generator: Generator, device: torch.device, dims: int, amp: bool) -> None:
        self.generator, self.device, self.dims = generator, device, dims
        self.amp = amp and device.type == "cuda"

    @torch.inference_mode()
    def __call__(self, crops: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        x = torch.from_numpy(to_unit(np.stack(crops))).to(self.device)
        if self.dims == 3:
            x = x[:, None]  # (N, 1, Z, Y, X); 2D crops are (N, 1, Y, X) slabs already
        autocast = torch.autocast("cuda", dtype=torch.bfloat16) if self.amp else nullcontext()
        with autocast:
            image, logits = self.generator(x)
        seg = activate(logits.float(), self.generator.seg_target) if logits is not None else None
        if self.dims == 2:
            image = image.unsqueeze(2)
            seg = seg.unsqueeze(2) if seg is not None else None
        return image.float().cpu().numpy(), (seg.cpu().numpy() if seg is not None else None)


def _translate_block(
    run: _Runner,
    read_block: ReadBlock,
    shape: Triple,
    core: Box,
    grid: WindowGrid,
    starts: list[list[int]],
    weight: np.ndarray,
    batch_size: int,
) -> tuple[np.ndarray, np.ndarray | None]:
    per_axis = [[axis[k] for k in ks] for axis, ks in zip(starts, grid.overlapping(starts, core))]
    windows = list(itertools.product(*per_axis))
    lo, hi = span(windows, grid.size)
    data = read_padded(BoxReader(read_block, shape), lo, hi)
    channels = len(run.generator.seg_target)
    blender = Blender(core, 1 + channels, weight)
    for i in range(0, len(windows), batch_size):
        batch = windows[i : i + batch_size]
        crops = [data[tuple(slice(s - a, s - a + w) for s, a, w in zip(win, lo, grid.size))] for win in batch]
        images, segs = run(crops)
        for k, win in enumerate(batch):
            blender.add(win, images[k] if segs is None else np.concatenate([images[k], segs[k]]))
    acc = blender.result()
    image = np.clip(np.rint((acc[0] + 1) * 127.5), 0, 255).astype(np.uint8)
    if not channels:
        return image, None
    maps = acc[1:]
    if "d" in run.generator.seg_target:
        d = run.generator.seg_target.index("d")
        maps[d] = (maps[d] + 1) / 2
    return image, np.clip(np.rint(maps * 255), 0, 255).astype(np.uint8)


def array_reader(volume: Any) -> ReadBlock:
    """``read_block`` over a numpy or zarr array."""
    return lambda box: np.asarray(volume[box])


def array_writer(image_out: Any, seg_out: Any | None = None) -> WriteBlock:
    """``write_block`` into a (Z, Y, X) image array and an optional (C, Z, Y, X) seg array (numpy or zarr)."""

    def write(box: Box, image: np.ndarray, seg: np.ndarray | None) -> None:
        image_out[box] = image
        if seg_out is not None and seg is not None:
            seg_out[(slice(None), *box)] = seg

    return write
