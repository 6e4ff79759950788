"""PyTC v1.0's instance decoders (same keywords, same partition), fast on uint8 maps.

Each takes uint8 maps (C, Z, Y, X) and returns ids 1..N (smallest unsigned dtype; PyTC keeps
its seed ids instead, so outputs match PyTC's up to a relabelling). Float maps need
``float_scale`` (255 for probabilities in [0, 1]). ``small_inclusive`` picks how ``thres_small`` and
``seed_thres`` cut (see :mod:`em2exm.decode.sizes`): True removes objects of size <= the threshold, as
PyTC does on scikit-image >= 0.26 (the default, what a fresh install gets); False removes size < the
threshold, as on scikit-image <= 0.25. :func:`spec` gives a decoder's checked settings for blockwise
decoding (:mod:`em2exm.decode.blockwise`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from em2exm.decode import rules as r
from em2exm.decode.connected import connected_dilated
from em2exm.decode.inputs import check_count, check_range, check_triple
from em2exm.decode.resize import resize_labels
from em2exm.decode.sizes import smallest_kept
from em2exm.decode.specs import Connected, Spec, Watershed
from em2exm.decode.watershed import seeded_watershed
from em2exm.errors import UserError
from em2exm.tiling import triple

Scale = Sequence[float]
_MODES = ("background", "none")


def _small(thres_small: int, remove_small_mode: str, inclusive: bool) -> int:
    check_count("thres_small", thres_small)
    if remove_small_mode not in _MODES:
        raise UserError(
            f"remove_small_mode={remove_small_mode!r} is not supported",
            "use 'background' (PyTC's default: small instances become background) or 'none'",
        )
    return smallest_kept("thres_small", thres_small, inclusive) if remove_small_mode == "background" else 1


def _probabilities(**thresholds: float) -> None:
    for name, value in thresholds.items():
        check_range(name, value, 0.0, 1.0)


def _run(spec: Spec, volume: np.ndarray, scale_factors: Scale) -> np.ndarray:
    maps = spec.maps(volume)
    scale = check_triple("scale_factors", scale_factors)
    seg = seeded_watershed(maps, spec) if isinstance(spec, Watershed) else connected_dilated(maps, spec)
    return resize_labels(seg, scale)


def _bc_watershed_spec(thres1: float, thres2: float, thres3: float, thres_small: int, remove_small_mode: str,
                       seed_thres: int, float_scale: float | None, small_inclusive: bool) -> Watershed:
    _probabilities(thres1=thres1, thres2=thres2, thres3=thres3)
    rules = r.Rules(fg=r.table(r.above(thres3), r.ANY), seed=r.table(r.above(thres1), r.below(thres2)))
    return Watershed("bc_watershed", 2, True, rules, smallest_kept("seed_thres", seed_thres, small_inclusive),
                     _small(thres_small, remove_small_mode, small_inclusive), float_scale)


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
    small_inclusive: bool = True,
) -> np.ndarray:
    """Foreground + contour maps (2 channels): seeds S>t1 & C<t2, watershed inside S>t3."""
    spec = _bc_watershed_spec(thres1, thres2, thres3, thres_small, remove_small_mode, seed_thres, float_scale,
                              small_inclusive)
    return _run(spec, volume, scale_factors)


def _bcd_watershed_spec(thres1: float, thres2: float, thres3: float, thres4: float, thres5: float, thres_small: int,
                        remove_small_mode: str, seed_thres: int, float_scale: float | None,
                        small_inclusive: bool) -> Watershed:
    _probabilities(thres1=thres1, thres2=thres2, thres3=thres3)
    check_range("thres4", thres4, -1.0, 1.0)
    check_range("thres5", thres5, -1.0, 1.0)
    rules = r.Rules(
        fg=r.table(r.above(thres3), r.ANY, r.distance_above(thres5)),
        seed=r.table(r.above(thres1), r.below(thres2), r.distance_above(thres4)),
    )
    return Watershed("bcd_watershed", 3, True, rules, smallest_kept("seed_thres", seed_thres, small_inclusive),
                     _small(thres_small, remove_small_mode, small_inclusive), float_scale)


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
    small_inclusive: bool = True,
) -> np.ndarray:
    """Foreground + contour + signed distance (3 channels, distance read as v/255*2-1):
    seeds S>t1 & C<t2 & D>t4, watershed inside S>t3 & D>t5."""
    spec = _bcd_watershed_spec(thres1, thres2, thres3, thres4, thres5, thres_small, remove_small_mode, seed_thres,
                               float_scale, small_inclusive)
    return _run(spec, volume, scale_factors)


def _binary_watershed_spec(thres1: float, thres2: float, thres_small: int, remove_small_mode: str, seed_thres: int,
                           float_scale: float | None, small_inclusive: bool) -> Watershed:
    _probabilities(thres1=thres1, thres2=thres2)
    rules = r.Rules(fg=r.table(r.above(thres2)), seed=r.table(r.above(thres1)))
    return Watershed("binary_watershed", 1, False, rules, smallest_kept("seed_thres", seed_thres, small_inclusive),
                     _small(thres_small, remove_small_mode, small_inclusive), float_scale)


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
    small_inclusive: bool = True,
) -> np.ndarray:
    """Foreground map (channel 0 of any C): seeds S>t1, watershed inside S>t2."""
    spec = _binary_watershed_spec(thres1, thres2, thres_small, remove_small_mode, seed_thres, float_scale,
                                  small_inclusive)
    return _run(spec, volume, scale_factors)


def _bc_connected_spec(thres1: float, thres2: float, thres_small: int, dilation_struct: Sequence[int],
                       remove_small_mode: str, float_scale: float | None, small_inclusive: bool) -> Connected:
    _probabilities(thres1=thres1, thres2=thres2)
    size = triple(int(s) for s in check_triple("dilation_struct", dilation_struct, integer=True))
    if any(s % 2 == 0 for s in size):
        raise UserError(
            f"dilation_struct={tuple(dilation_struct)} has an even size",
            "use odd sizes (PyTC's default is (1, 5, 5)); even boxes have no centre",
        )
    table = r.table(r.above(thres1), r.below(thres2))
    return Connected("bc_connected", table, size, _small(thres_small, remove_small_mode, small_inclusive),
                     float_scale)


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
    small_inclusive: bool = True,
) -> np.ndarray:
    """Foreground + contour maps (2 channels): S>t1 & C<t2 labelled 26-connected, grey-dilated
    with ``ones(dilation_struct)`` (larger id wins, not re-masked), small instances removed."""
    spec = _bc_connected_spec(thres1, thres2, thres_small, dilation_struct, remove_small_mode, float_scale,
                              small_inclusive)
    return _run(spec, volume, scale_factors)


DECODERS: dict[str, Callable[..., np.ndarray]] = {
    "bc_watershed": bc_watershed, "bcd_watershed": bcd_watershed, "binary_watershed": binary_watershed,
    "bc_connected": bc_connected,
}
_SPECS: dict[str, Callable[..., Spec]] = {
    "bc_watershed": _bc_watershed_spec, "bcd_watershed": _bcd_watershed_spec,
    "binary_watershed": _binary_watershed_spec, "bc_connected": _bc_connected_spec,
}


def spec(mode: str, **kwargs: Any) -> Spec:
    """Checked settings of decoder ``mode`` called with keywords ``kwargs`` (its defaults for the rest),
    for blockwise decoding, which cannot resize (``scale_factors`` must stay 1)."""
    if mode not in DECODERS:
        raise UserError(f"unknown decoder {mode!r}", f"use one of {', '.join(DECODERS)}")
    try:
        bound = inspect.signature(DECODERS[mode]).bind(None, **kwargs)
    except TypeError as exc:
        raise UserError(f"{mode} does not take {sorted(kwargs)} ({exc})", f"pass {mode}'s keywords only") from exc
    bound.apply_defaults()
    args = dict(bound.arguments)
    del args["volume"]
    if any(f != 1.0 for f in check_triple("scale_factors", args.pop("scale_factors"))):
        raise UserError(f"{mode} with scale_factors={kwargs['scale_factors']} changes the volume's shape",
                        "decode blockwise without scale_factors (resize after stitching)")
    return _SPECS[mode](**args)
