"""PyTC v1.0's instance decoders (same keywords, same partition), fast on uint8 maps.

Each takes uint8 maps (C, Z, Y, X) and returns ids 1..N (smallest unsigned dtype; PyTC keeps
its seed ids instead, so outputs match PyTC's up to a relabelling). Float maps need
``float_scale`` (255 for probabilities in [0, 1]).
"""

from __future__ import annotations

from collections.abc import Sequence

import cc3d
import numpy as np

from em2exm.decode import rules as r
from em2exm.decode.crop import box_at_least, box_shape
from em2exm.decode.dilate import count_labels, dilate_box
from em2exm.decode.inputs import as_uint8_maps, check_count, check_range, check_triple
from em2exm.decode.masks import rule_mask
from em2exm.decode.relabel import keep_table, label_dtype, relabel_inplace
from em2exm.decode.resize import resize_labels
from em2exm.decode.watershed import seeded_watershed
from em2exm.errors import UserError

Scale = Sequence[float]
_MODES = ("background", "none")


def _small(thres_small: int, remove_small_mode: str) -> int:
    check_count("thres_small", thres_small)
    if remove_small_mode not in _MODES:
        raise UserError(
            f"remove_small_mode={remove_small_mode!r} is not supported",
            "use 'background' (PyTC's default: small instances become background) or 'none'",
        )
    return int(thres_small) if remove_small_mode == "background" else 0


def _probabilities(**thresholds: float) -> None:
    for name, value in thresholds.items():
        check_range(name, value, 0.0, 1.0)


def bc_watershed(
    volume: np.ndarray,
    thres1: float = 0.9,
    thres2: float = 0.8,
    thres3: float = 0.85,
    thres_small: int = 128,
    scale_factors: Scale = (1.0, 1.0, 1.0),
    remove_small_mode: str = "background",
    seed_thres: int = 32,
    *,
    float_scale: float | None = None,
) -> np.ndarray:
    """Foreground + contour maps (2 channels): seeds S>t1 & C<t2, watershed inside S>t3."""
    maps = as_uint8_maps(volume, "bc_watershed", 2, True, float_scale)
    scale = check_triple("scale_factors", scale_factors)
    _probabilities(thres1=thres1, thres2=thres2, thres3=thres3)
    check_count("seed_thres", seed_thres)
    rules = r.Rules(fg=r.table(r.above(thres3), r.ANY), seed=r.table(r.above(thres1), r.below(thres2)))
    seg = seeded_watershed(maps, rules, int(seed_thres), _small(thres_small, remove_small_mode))
    return resize_labels(seg, scale)


def bcd_watershed(
    volume: np.ndarray,
    thres1: float = 0.9,
    thres2: float = 0.8,
    thres3: float = 0.85,
    thres4: float = 0.5,
    thres5: float = 0.0,
    thres_small: int = 128,
    scale_factors: Scale = (1.0, 1.0, 1.0),
    remove_small_mode: str = "background",
    seed_thres: int = 32,
    *,
    float_scale: float | None = None,
) -> np.ndarray:
    """Foreground + contour + signed distance (3 channels, distance read as v/255*2-1):
    seeds S>t1 & C<t2 & D>t4, watershed inside S>t3 & D>t5."""
    maps = as_uint8_maps(volume, "bcd_watershed", 3, True, float_scale)
    scale = check_triple("scale_factors", scale_factors)
    _probabilities(thres1=thres1, thres2=thres2, thres3=thres3)
    check_range("thres4", thres4, -1.0, 1.0)
    check_range("thres5", thres5, -1.0, 1.0)
    check_count("seed_thres", seed_thres)
    rules = r.Rules(
        fg=r.table(r.above(thres3), r.ANY, r.distance_above(thres5)),
        seed=r.table(r.above(thres1), r.below(thres2), r.distance_above(thres4)),
    )
    seg = seeded_watershed(maps, rules, int(seed_thres), _small(thres_small, remove_small_mode))
    return resize_labels(seg, scale)


def binary_watershed(
    volume: np.ndarray,
    thres1: float = 0.98,
    thres2: float = 0.85,
    thres_small: int = 128,
    scale_factors: Scale = (1.0, 1.0, 1.0),
    remove_small_mode: str = "background",
    seed_thres: int = 32,
    *,
    float_scale: float | None = None,
) -> np.ndarray:
    """Foreground map (channel 0 of any C): seeds S>t1, watershed inside S>t2."""
    maps = as_uint8_maps(volume, "binary_watershed", 1, False, float_scale)[:1]
    scale = check_triple("scale_factors", scale_factors)
    _probabilities(thres1=thres1, thres2=thres2)
    check_count("seed_thres", seed_thres)
    rules = r.Rules(fg=r.table(r.above(thres2)), seed=r.table(r.above(thres1)))
    seg = seeded_watershed(maps, rules, int(seed_thres), _small(thres_small, remove_small_mode))
    return resize_labels(seg, scale)


def bc_connected(
    volume: np.ndarray,
    thres1: float = 0.8,
    thres2: float = 0.5,
    thres_small: int = 128,
    scale_factors: Scale = (1.0, 1.0, 1.0),
    dilation_struct: Sequence[int] = (1, 5, 5),
    remove_small_mode: str = "background",
    *,
    float_scale: float | None = None,
) -> np.ndarray:
    """Foreground + contour maps (2 channels): S>t1 & C<t2 labelled 26-connected, grey-dilated
    with ``ones(dilation_struct)`` (larger id wins, not re-masked), small instances removed."""
    maps = as_uint8_maps(volume, "bc_connected", 2, True, float_scale)
    scale = check_triple("scale_factors", scale_factors)
    _probabilities(thres1=thres1, thres2=thres2)
    size = tuple(int(s) for s in check_triple("dilation_struct", dilation_struct, integer=True))
    if any(s % 2 == 0 for s in size):
        raise UserError(
            f"dilation_struct={tuple(dilation_struct)} has an even size",
            "use odd sizes (PyTC's default is (1, 5, 5)); even boxes have no centre",
        )
    small = _small(thres_small, remove_small_mode)
    table = r.table(r.above(thres1), r.below(thres2))
    box = box_at_least(maps[0], r.floor(table[0]), size)
    if box is None:
        seg = np.zeros(maps.shape[1:], np.uint8)
    else:
        fg = np.zeros(box_shape(box), bool)
        rule_mask(maps[(slice(None), *box)], table, fg)
        labels, n = cc3d.connected_components(fg, connectivity=26, return_N=True)
        del fg
        seg = np.zeros(maps.shape[1:], label_dtype(n))
        dilate_box(labels, size, seg[box])
        del labels
        relabel_inplace(seg[box], keep_table(count_labels(seg[box], n), small))
    return resize_labels(seg, scale)
