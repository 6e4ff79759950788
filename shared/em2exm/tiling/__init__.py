"""Tiling, the one place for it: block grids and storage chunks, sliding-window grids, blend weights, padded reads.

- :mod:`~em2exm.tiling.grid`: ``Box``/``Triple`` (:func:`triple` makes one), :func:`tile`, :class:`BlockGrid`, :func:`chunks_for`;
- :mod:`~em2exm.tiling.windows`: :func:`stride_for`, :class:`WindowGrid`, :func:`span`, :func:`window_overlap`;
- :mod:`~em2exm.tiling.blend`: :func:`window_weights`, :class:`Blender`;
- :mod:`~em2exm.tiling.padded`: :func:`read_padded` (reflect), :class:`BoxReader`.
"""

from em2exm.tiling.blend import Blend, Blender, Gaussian, window_weights
from em2exm.tiling.grid import MAX_CHUNK, BlockGrid, Box, Triple, chunks_for, tile, triple
from em2exm.tiling.padded import BoxReader, Readable, read_padded, reflect_index
from em2exm.tiling.windows import Rounding, Spare, WindowGrid, span, stride_for, window_overlap

__all__ = [
    "MAX_CHUNK", "Blend", "BlockGrid", "Blender", "Box", "BoxReader", "Gaussian", "Readable", "Rounding", "Spare",
    "Triple", "WindowGrid", "chunks_for", "read_padded", "reflect_index", "span", "stride_for", "tile",
    "triple", "window_overlap", "window_weights",
]
