"""Validation of decoder inputs: (C, Z, Y, X) uint8 maps and the decoders' parameters."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from em2exm.errors import UserError


def as_uint8_maps(
    maps: np.ndarray, name: str, channels: int, exact: bool, float_scale: float | None
) -> np.ndarray:
    """Return ``maps`` as uint8 (C, Z, Y, X), or raise UserError naming what is wrong.

    ``channels`` is the required channel count (at least that many when ``exact`` is False).
    Float maps are accepted only with ``float_scale``: they become ``trunc(clip(v*scale, 0, 255))``,
    PyTC's own uint8 conversion for ``float_scale=255`` and probabilities in [0, 1].
    """
    maps = np.asarray(maps)
    if maps.ndim != 4:
        raise UserError(
            f"{name} needs a 4-D (C, Z, Y, X) map, got {maps.ndim}-D shape {maps.shape}",
            "pass one volume with channels first, e.g. maps[None] for a single-channel (Z, Y, X) map",
        )
    want = f"exactly {channels}" if exact else f"at least {channels}"
    if maps.shape[0] < channels or (exact and maps.shape[0] != channels):
        raise UserError(
            f"{name} needs {want} channel(s), got {maps.shape[0]} (shape {maps.shape})",
            f"pass the model output in the channel order {name} expects, or pick the decoder "
            "that matches the model's channels (B: binary_watershed, BC: bc_*, BCD: bcd_watershed)",
        )
    if maps.dtype == np.uint8:
        return maps
    if np.issubdtype(maps.dtype, np.floating) and float_scale is not None:
        scaled = maps * maps.dtype.type(float_scale)
        return np.clip(scaled, 0, 255, out=scaled).astype(np.uint8)
    raise UserError(
        f"{name} takes uint8 maps (0..255), got dtype {maps.dtype}",
        "convert the maps with trunc(255*p) to uint8, or pass float_scale=255 for float "
        "probabilities in [0, 1]",
    )


def check_range(name: str, value: float, low: float, high: float) -> None:
    """Raise UserError unless ``low <= value <= high``."""
    if not low <= value <= high:
        raise UserError(f"{name}={value} is outside [{low}, {high}]", f"set {name} within [{low}, {high}]")


def check_count(name: str, value: int) -> None:
    """Raise UserError unless ``value`` is a non-negative integer."""
    if int(value) != value or value < 0:
        raise UserError(f"{name}={value} is not a voxel count", f"set {name} to an integer >= 0")


def check_triple(name: str, values: Sequence[float], integer: bool = False) -> tuple[float, float, float]:
    """Return ``values`` as a (Z, Y, X) tuple of positive numbers, or raise UserError."""
    out = tuple(values)
    if len(out) != 3 or any(v <= 0 or (integer and int(v) != v) for v in out):
        kind = "positive integers" if integer else "positive numbers"
        raise UserError(f"{name}={values!r} is not three {kind}", f"give {name} as (z, y, x) {kind}")
    return out
