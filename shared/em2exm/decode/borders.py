"""What a flood reads of a block's border again and again, worked out once per task.

A block's flood reads its own border and the layers of its neighbours' borders facing it; a task floods a block and
reads it as a neighbour several times per round (sweeps). Its border, the instance each border voxel settled to, their
global flat indices and how many layers each lies from each face do not change after the merge, so they are computed
once per block and kept while the task's round lasts.
"""

from __future__ import annotations

import numpy as np

from em2exm.decode.blocks import BlockPlan
from em2exm.decode.crop import box_shape
from em2exm.decode.state import Arrays, State

_EMPTY = np.zeros(0, np.int64)
NO_BORDER: Arrays = {"border_index": _EMPTY, "border_marker": _EMPTY, "border_level": np.zeros(0, np.uint8),
                     "border_value": np.zeros(0, np.uint8)}
"""The border of a block of a decoder that leaves no voxel open (bc_connected)."""


class Borders:
    """The borders of ``plan``'s blocks in ``state``, read once each, with what floods derive from them."""

    def __init__(self, plan: BlockPlan, state: State) -> None:
        self.plan, self.state = plan, state
        self._settled: dict[int, tuple[Arrays, np.ndarray]] = {}
        self._voxels: dict[int, np.ndarray] = {}
        self._layers: dict[tuple[int, int, bool], np.ndarray] = {}

    def settled(self, block_id: int) -> tuple[Arrays, np.ndarray]:
        """A block's border and the instance of each of its voxels (-1: open)."""
        if block_id not in self._settled:
            border = self.state.border(block_id) or NO_BORDER
            self._settled[block_id] = border, self.state.load("merge", block_id)["instance"][border["border_marker"]]
        return self._settled[block_id]

    def voxels(self, block_id: int) -> np.ndarray:
        """The global flat index of each voxel of a block's border."""
        if block_id not in self._voxels:
            core = self.plan.core(block_id)
            local = np.unravel_index(self.settled(block_id)[0]["border_index"], box_shape(core))
            self._voxels[block_id] = np.ravel_multi_index(tuple(c + s.start for c, s in zip(local, core)),
                                                          self.plan.shape)
        return self._voxels[block_id]

    def layers(self, block_id: int, axis: int, last: bool) -> np.ndarray:
        """How many layers each voxel of a block's border lies from its first (or ``last``) layer along ``axis``
        (255 for 255 or more: floods read a few layers)."""
        key = (block_id, axis, last)
        if key not in self._layers:
            size = box_shape(self.plan.core(block_id))
            coord = (self.settled(block_id)[0]["border_index"] // int(np.prod(size[axis + 1:]))) % size[axis]
            self._layers[key] = np.minimum(size[axis] - 1 - coord if last else coord, 255).astype(np.uint8)
        return self._layers[key]
