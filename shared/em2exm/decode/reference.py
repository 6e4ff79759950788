"""PyTC v1.0's decoders written with scikit-image (>= 0.25) as PyTC runs them: the slow oracle the
fast decoders are checked and benchmarked against. Same keywords; ids are seed ids (not 1..N).
``small_inclusive`` picks scikit-image's size rule (True: 0.26's ``<=``, False: 0.25's ``<``).

:func:`tied` is the oracle of the plateau bound: the voxels whose label the watershed's tie order
(and nothing else) decides.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage as ndi
from skimage.measure import label
from skimage.morphology import dilation, reconstruction
from skimage.segmentation import watershed


def _drop_small(labels: np.ndarray, thres: int, inclusive: bool) -> np.ndarray:
    """Ids of size <= ``thres`` (``inclusive``) or < ``thres`` become 0 (``remove_small_objects``' rules)."""
    sizes = np.bincount(labels.reshape(-1))
    too_small = sizes <= thres if inclusive else sizes < thres
    too_small[0] = False
    labels[too_small[labels]] = 0
    return labels


def _watershed_masks(func: str, maps: np.ndarray, **kwargs: Any) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Seed map, foreground mask and the keywords with PyTC's defaults, of a watershed decoder."""
    s = maps[0]
    if func == "binary_watershed":
        k = {"thres1": 0.98, "thres2": 0.85, "thres_small": 128, "seed_thres": 32, "small_inclusive": True, **kwargs}
        return s > int(255 * k["thres1"]), s > int(255 * k["thres2"]), k
    k = {"thres1": 0.9, "thres2": 0.8, "thres3": 0.85, "thres4": 0.5, "thres5": 0.0, "thres_small": 128,
         "seed_thres": 32, "small_inclusive": True, **kwargs}
    seed_map = (s > int(255 * k["thres1"])) & (maps[1] < int(255 * k["thres2"]))
    fg = s > int(255 * k["thres3"])
    if func == "bcd_watershed":
        distance = (maps[2] / 255.0) * 2.0 - 1.0
        seed_map &= distance > k["thres4"]
        fg &= distance > k["thres5"]
    elif func != "bc_watershed":
        raise ValueError(f"unknown decoder {func!r}")
    return seed_map, fg, k


def _seeds(seed_map: np.ndarray, k: dict[str, Any]) -> np.ndarray:
    return _drop_small(label(seed_map), k["seed_thres"], k["small_inclusive"])


def decode(func: str, maps: np.ndarray, **kwargs: Any) -> np.ndarray:
    """Run decoder ``func`` ('bc_watershed', 'bcd_watershed', 'bc_connected', 'binary_watershed')
    on uint8 ``maps`` (C, Z, Y, X) with PyTC's defaults overridden by ``kwargs``."""
    if func == "bc_connected":
        k = {"thres1": 0.8, "thres2": 0.5, "thres_small": 128, "dilation_struct": (1, 5, 5), "small_inclusive": True,
             **kwargs}
        fg = (maps[0] > int(255 * k["thres1"])) & (maps[1] < int(255 * k["thres2"]))
        return _drop_small(dilation(label(fg), np.ones(k["dilation_struct"])), k["thres_small"], k["small_inclusive"])
    seed_map, fg, k = _watershed_masks(func, maps, **kwargs)
    flooded = watershed(-maps[0].astype(np.float64), _seeds(seed_map, k), mask=fg)
    return _drop_small(flooded, k["thres_small"], k["small_inclusive"])


def tied(func: str, maps: np.ndarray, **kwargs: Any) -> np.ndarray:
    """Voxels of watershed decoder ``func`` whose label only the flood's tie order decides: the
    watershed labels a voxel from its neighbour of smallest *level* (the smallest largest priority
    ``255 - maps[0]`` of a 6-connected path inside the foreground from a surviving seed), ties going
    by scikit-image's heap order; a voxel is tied when the chains of smallest-level neighbours from it
    lead to two or more seeds (on an exact plateau of the level). Levels come from a grey
    reconstruction by erosion; labels spread level by level to a fixed point."""
    seed_map, fg, k = _watershed_masks(func, maps, **kwargs)
    seeds = np.pad(_seeds(seed_map, k) * fg, 1)
    priority = np.pad(np.where(fg, 255.0 - maps[0], 256.0), 1, constant_values=256.0)
    cross = ndi.generate_binary_structure(3, 1)
    level = reconstruction(np.where(seeds > 0, priority, 256.0), priority, method="erosion", footprint=cross)
    flat_level, label = level.reshape(-1), seeds.reshape(-1).astype(np.int64)  # label -1: tied, 0: not yet
    plane, row = level.shape[1] * level.shape[2], level.shape[2]
    steps = np.array([-plane, -row, -1, 1, row, plane])
    free = np.flatnonzero((seeds.reshape(-1) == 0) & (flat_level < 256))
    for value in np.unique(flat_level[free]):
        at = free[flat_level[free] == value]
        around = at[:, None] + steps
        lowest = flat_level[around]
        parents = lowest == lowest.min(axis=1, keepdims=True)
        while True:
            seen = np.where(parents, label[around], 0)
            known = np.where(seen > 0, seen, np.iinfo(np.int64).max).min(axis=1)
            new = np.where((seen == -1).any(axis=1) | (seen.max(axis=1) > known), -1,
                           np.where(seen.max(axis=1) > 0, seen.max(axis=1), 0))
            if np.array_equal(new, label[at]):
                break
            label[at] = new
    return (label.reshape(level.shape) == -1)[1:-1, 1:-1, 1:-1]
