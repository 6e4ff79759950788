"""Seeded watershed decode shared by bc_watershed, bcd_watershed and binary_watershed."""

from __future__ import annotations

import numpy as np

from em2exm.decode.crop import box_at_least, box_shape
from em2exm.decode.flood import flood, item_bits
from em2exm.decode.masks import classify
from em2exm.decode.relabel import keep_table, label_dtype, write_crop
from em2exm.decode.seeds import label_seeds
from em2exm.decode.specs import Watershed


def offsets(shape: tuple[int, int, int]) -> np.ndarray:
    """Flat 6-neighbour steps in scikit-image's order: -z, -y, -x, +x, +y, +z."""
    plane, row = shape[1] * shape[2], shape[2]
    return np.array([-plane, -row, -1, 1, row, plane], dtype=np.int64)


def seeded_watershed(maps: np.ndarray, spec: Watershed) -> np.ndarray:
    """PyTC's seeded watershed on uint8 ``maps`` (C, Z, Y, X) as ``spec`` sets it (seeds of fewer than
    ``spec.seed_min`` voxels dropped, instances of fewer than ``spec.small_min`` removed); ids 1..N in
    seed order."""
    rules, shape = spec.rules, maps.shape[1:]
    box = box_at_least(maps[0], rules.floor)
    if box is None:
        return np.zeros(shape, np.uint8)
    crop = maps[(slice(None), *box)]
    padded = box_shape(box, pad=1)
    level = np.zeros(padded, np.uint8)
    seed_map = np.zeros(padded, bool)
    n_fg = classify(crop, rules.fg, rules.seed, level, seed_map)
    index_bits, age_bits = item_bits(level.size, n_fg)
    seeds, n_seeds = label_seeds(seed_map)
    del seed_map
    labels = np.zeros(padded, label_dtype(n_seeds))
    counts = np.zeros(n_seeds + 1, np.int64)
    heap = np.empty(n_fg, np.uint64)
    flood(level.reshape(-1), seeds.reshape(-1), labels.reshape(-1), spec.seed_min, offsets(padded), counts, heap,
          index_bits, age_bits)
    del seeds, heap
    return write_crop(labels, keep_table(counts, spec.small_min), shape, box, 1)
