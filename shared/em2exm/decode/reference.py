"""PyTC v1.0's decoders written with scikit-image (>= 0.25) as PyTC runs them: the slow oracle the
fast decoders are checked and benchmarked against. Same keywords; ids are seed ids (not 1..N)."""

from __future__ import annotations

from typing import Any

import numpy as np
from skimage.measure import label
from skimage.morphology import dilation
from skimage.segmentation import watershed


def _drop_small(labels: np.ndarray, min_size: int) -> np.ndarray:
    """Ids with fewer than ``min_size`` voxels become 0 (``remove_small_objects``' rule)."""
    too_small = np.bincount(labels.reshape(-1)) < min_size
    too_small[0] = False
    labels[too_small[labels]] = 0
    return labels


def _seeded(semantic: np.ndarray, seed_map: np.ndarray, fg: np.ndarray, seed_thres: int, thres_small: int) -> np.ndarray:
    seed = _drop_small(label(seed_map), seed_thres)
    return _drop_small(watershed(-semantic.astype(np.float64), seed, mask=fg), thres_small)


def decode(func: str, maps: np.ndarray, **kwargs: Any) -> np.ndarray:
    """Run decoder ``func`` ('bc_watershed', 'bcd_watershed', 'bc_connected', 'binary_watershed')
    on uint8 ``maps`` (C, Z, Y, X) with PyTC's defaults overridden by ``kwargs``."""
    s = maps[0]
    if func == "bc_connected":
        k = {"thres1": 0.8, "thres2": 0.5, "thres_small": 128, "dilation_struct": (1, 5, 5), **kwargs}
        fg = (s > int(255 * k["thres1"])) & (maps[1] < int(255 * k["thres2"]))
        return _drop_small(dilation(label(fg), np.ones(k["dilation_struct"])), k["thres_small"])
    if func == "binary_watershed":
        k = {"thres1": 0.98, "thres2": 0.85, "thres_small": 128, "seed_thres": 32, **kwargs}
        return _seeded(s, s > int(255 * k["thres1"]), s > int(255 * k["thres2"]), k["seed_thres"], k["thres_small"])
    k = {"thres1": 0.9, "thres2": 0.8, "thres3": 0.85, "thres4": 0.5, "thres5": 0.0, "thres_small": 128,
         "seed_thres": 32, **kwargs}
    seed_map = (s > int(255 * k["thres1"])) & (maps[1] < int(255 * k["thres2"]))
    fg = s > int(255 * k["thres3"])
    if func == "bcd_watershed":
        distance = (maps[2] / 255.0) * 2.0 - 1.0
        seed_map &= distance > k["thres4"]
        fg &= distance > k["thres5"]
    elif func != "bc_watershed":
        raise ValueError(f"unknown decoder {func!r}")
    return _seeded(s, seed_map, fg, k["seed_thres"], k["thres_small"])
