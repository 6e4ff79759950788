"""bc_connected on a whole volume: components of the rule mask, grey-dilated, small instances removed."""

from __future__ import annotations

import cc3d
import numpy as np

from em2exm.decode.crop import box_at_least, box_shape
from em2exm.decode.dilate import count_labels, dilate_box
from em2exm.decode.masks import rule_mask
from em2exm.decode.relabel import keep_table, label_dtype, relabel_inplace
from em2exm.decode.rules import floor
from em2exm.decode.specs import Connected


def connected_dilated(maps: np.ndarray, spec: Connected) -> np.ndarray:
    """PyTC's bc_connected on uint8 ``maps`` (C, Z, Y, X): voxels passing ``spec.table`` labelled
    26-connected (ids in raster order of each component's first voxel), grey-dilated with
    ``ones(spec.dilation)`` (larger id wins, not re-masked), instances under ``spec.small_min`` removed."""
    box = box_at_least(maps[0], floor(spec.table[0]), spec.dilation)
    if box is None:
        return np.zeros(maps.shape[1:], np.uint8)
    fg = np.zeros(box_shape(box), bool)
    rule_mask(maps[(slice(None), *box)], spec.table, fg)
    labels, n = cc3d.connected_components(fg, connectivity=26, return_N=True)
    del fg
    seg = np.zeros(maps.shape[1:], label_dtype(n))
    dilate_box(labels, spec.dilation, seg[box])
    del labels
    relabel_inplace(seg[box], keep_table(count_labels(seg[box], n), spec.small_min))
    return seg
