"""The stain on the label grid: a band at instance boundaries, a cytosol level, per-instance brightness.

A label voxel is membrane when a voxel of another id (background 0 included) lies within half the membrane
width of it (an ellipsoid in nanometres, at least the six face neighbours), so the band is about
``membrane_width_nm`` wide and centred on the boundary.  Instances (ids != 0) carry ``cytosol_level`` inside.
Each id's brightness is log-normal with mean 1 and the configured CV, drawn from a hash of (seed, id): the same
id gets the same brightness in every block.  Background keeps brightness 1.
"""

from __future__ import annotations

import itertools
import math

import fastremap
import numpy as np
from scipy.special import ndtri

from em2exm.tiling import triple

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX = (np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB))


def footprint(width_nm: float, voxel: tuple[float, float, float]) -> list[tuple[int, int, int]]:
    """Half of the neighbour offsets within ``width_nm / 2`` (one of each +-pair), face neighbours always."""
    half = width_nm / 2.0
    rz, ry, rx = (max(1, math.floor(half / v)) for v in voxel)
    offsets = []
    for d in itertools.product(range(-rz, rz + 1), range(-ry, ry + 1), range(-rx, rx + 1)):
        inside = sum((k * v) ** 2 for k, v in zip(d, voxel)) <= half**2 or sum(map(abs, d)) == 1
        if inside and d > (0, 0, 0):
            offsets.append(d)
    return offsets


def reach(offsets: list[tuple[int, int, int]]) -> tuple[int, int, int]:
    """How far (label voxels per axis) the membrane test looks from a voxel."""
    return triple(max(abs(d[a]) for d in offsets) for a in range(3))


def membrane(labels: np.ndarray, offsets: list[tuple[int, int, int]]) -> np.ndarray:
    """Voxels with a different id within the footprint; beyond the array nothing differs (nearest extension)."""
    mask = np.zeros(labels.shape, bool)
    for d in offsets:
        a = tuple(slice(max(0, -k), n - max(0, k)) for k, n in zip(d, labels.shape))
        b = tuple(slice(max(0, k), n - max(0, -k)) for k, n in zip(d, labels.shape))
        differ = labels[a] != labels[b]
        mask[a] |= differ
        mask[b] |= differ
    return mask


def _splitmix64(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        x = x + _GOLDEN
        x = (x ^ (x >> np.uint64(30))) * _MIX[0]
        x = (x ^ (x >> np.uint64(27))) * _MIX[1]
    return x ^ (x >> np.uint64(31))


def brightness(ids: np.ndarray, seed: int, cv: float) -> np.ndarray:
    """Log-normal brightness (mean 1, coefficient of variation ``cv``) of each id; 1 for id 0."""
    keys = _splitmix64(_splitmix64(np.full(ids.shape, seed, np.uint64)) ^ ids.astype(np.uint64))
    uniform = ((keys >> np.uint64(11)).astype(np.float64) + 0.5) / 2.0**53
    s = math.sqrt(math.log1p(cv * cv))
    return np.where(ids == 0, 1.0, np.exp(s * ndtri(uniform) - 0.5 * s * s))


def stain(labels: np.ndarray, mask: np.ndarray, cytosol: float, seed: int, cv: float) -> np.ndarray:
    """Stain per label voxel (float32): brightness of the voxel's id times 1 on membrane, ``cytosol`` inside."""
    level = np.where(mask, np.float32(1.0), np.float32(cytosol) * (labels != 0))
    if cv == 0:
        return level.astype(np.float32)
    ids, inverse = fastremap.unique(labels, return_inverse=True)
    return (level * brightness(ids, seed, cv).astype(np.float32)[inverse.reshape(labels.shape)]).astype(np.float32)
