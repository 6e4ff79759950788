"""Training and validation patches read straight from array-likes (numpy or zarr, slice indexing only)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from em2exm.errors import UserError
from em2exm.seg.augment import augment, draw_turns
from em2exm.seg.config import SegTrainConfig
from em2exm.seg.heads import normalize_image, unit_range
from em2exm.seg.targets import target_maps
from em2exm.tiling import Box, Triple, WindowGrid, triple


@dataclass(frozen=True)
class LabelledVolume:
    """An image and its instance labels (both Z, Y, X), optionally restricted to a box."""

    image: Any
    labels: Any
    region: Box | None = None

    def box(self) -> tuple[Triple, Triple]:
        """(start, stop) of the usable region."""
        if tuple(self.image.shape) != tuple(self.labels.shape) or len(self.image.shape) != 3:
            raise UserError(
                f"image {tuple(self.image.shape)} and labels {tuple(self.labels.shape)} must be equal 3-D shapes",
                "pass matching (Z, Y, X) volumes",
            )
        region = self.region or (slice(None),) * 3
        bounds = [s.indices(n)[:2] for s, n in zip(region, self.image.shape)]
        return triple(b[0] for b in bounds), triple(b[1] for b in bounds)


class PatchSampler:
    """Random augmented patches with their target maps."""

    def __init__(self, volume: LabelledVolume, config: SegTrainConfig, rng: np.random.Generator) -> None:
        self.volume, self.config, self.rng = volume, config, rng
        self.start, self.stop = volume.box()
        z, y, x = config.patch
        need = (z, max(y, x), max(y, x)) if config.augment.rot90 and y != x else config.patch
        size = tuple(b - a for a, b in zip(self.start, self.stop))
        if any(s < n for s, n in zip(size, need)):
            raise UserError(
                f"training region {size} is smaller than the patch {need} it needs",
                "use a smaller seg patch size or a larger training region",
            )

    def sample(self) -> tuple[np.ndarray, np.ndarray]:
        """One (normalised image (Z, Y, X), targets (C, Z, Y, X)) pair."""
        turns = draw_turns(self.config.augment, self.rng)
        z, y, x = self.config.patch
        shape = (z, x, y) if turns % 2 else (z, y, x)
        origin = tuple(int(self.rng.integers(a, b - n + 1)) for a, b, n in zip(self.start, self.stop, shape))
        image, labels = read_pair(self.volume, origin, shape)
        image, labels = augment(image, labels, turns, self.config.augment, self.rng)
        return normalize_image(image), make_targets(labels, self.config)

    def batch(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Stacked inputs (n, 1, Z, Y, X) and targets (n, C, Z, Y, X)."""
        pairs = [self.sample() for _ in range(n)]
        return np.stack([p[0] for p in pairs])[:, None], np.stack([p[1] for p in pairs])


def read_pair(volume: LabelledVolume, origin: tuple[int, ...], shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Image in [0, 1] (float32) and labels of the box at ``origin``."""
    box = tuple(slice(o, o + n) for o, n in zip(origin, shape))
    return unit_range(volume.image[box]), np.asarray(volume.labels[box])


def make_targets(labels: np.ndarray, config: SegTrainConfig) -> np.ndarray:
    """Target maps for a label patch as configured."""
    return target_maps(
        labels,
        config.target,
        config.contour_k,
        config.distance,
        config.distance_mode,
        config.distance_bg,
        config.distance_black_border,
        config.voxel_size,
    )


def tile_origins(volume: LabelledVolume, patch: Triple, limit: int) -> list[Triple]:
    """Patch origins covering the region on a regular grid (last tile flush with the end), at most ``limit``."""
    start, stop = volume.box()
    for a, b, n in zip(start, stop, patch):
        if b - a < n:
            raise UserError(f"validation region {b - a} is smaller than the patch {n}", "use a larger validation crop")
    starts = WindowGrid(patch, patch).starts([b - a for a, b in zip(start, stop)])
    origins = list(itertools.product(*([a + s for s in axis] for a, axis in zip(start, starts))))
    picks = np.linspace(0, len(origins) - 1, min(limit, len(origins))).round().astype(int)
    return [origins[i] for i in picks]
