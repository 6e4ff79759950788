"""Random training patches read straight from array-likes (numpy or zarr; slice indexing only).

Domain A (EM) gives an image and its instance labels, domain B (ExM) an image; all are uint8 (Z, Y, X).
2D training draws single-slice patches, 3D training sub-volumes. A patches can be required to hold at least
``min_foreground`` labelled voxels (the best of ``foreground_tries`` draws is kept otherwise). Flips on every
axis and in-plane rot90 are applied to image and labels together; B is augmented independently.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from em2exm.ccgan.config import CCGANConfig
from em2exm.ccgan.targets import seg_targets
from em2exm.errors import UserError
from em2exm.tiling import triple

Batch = dict[str, np.ndarray]


def to_unit(image: np.ndarray) -> np.ndarray:
    """uint8 -> float32 in [-1, 1] (``x / 127.5 - 1``)."""
    return np.asarray(image, np.float32) / np.float32(127.5) - np.float32(1.0)


def _check(name: str, array: Any, need_uint8: bool = True) -> tuple[int, int, int]:
    shape = tuple(int(n) for n in array.shape)
    if len(shape) != 3:
        raise UserError(f"{name} must be a (Z, Y, X) volume, got shape {shape}", "pass a single-channel 3-D volume")
    if need_uint8 and np.dtype(array.dtype) != np.uint8:
        raise UserError(f"{name} must be uint8, got {array.dtype}", "ingest the volume first (it writes uint8)")
    return shape


class PatchSampler:
    """Batches ``{"A", "B"}`` (N, 1, *patch) in [-1, 1] and, with segmentation heads, ``"seg"`` (N, C, *patch)."""

    def __init__(
        self, image_a: Any, labels_a: Any, image_b: Any, config: CCGANConfig, rng: np.random.Generator
    ) -> None:
        shape_a = _check("domain A image", image_a)
        shape_b = _check("domain B image", image_b)
        if config.seg_head and (labels_a is None or _check("domain A labels", labels_a, need_uint8=False) != shape_a):
            raise UserError(
                "domain A labels are missing or differ in shape from its image", "pass labels matching the EM image"
            )
        self.image_a, self.labels_a, self.image_b = image_a, labels_a, image_b
        self.config, self.rng = config, rng
        patch = config.patch_shape if config.dims == 3 else (1, *config.patch_shape)
        self.patch: tuple[int, int, int] = triple(patch)
        side = max(patch[1:]) if config.rot90 else 0
        for name, shape in (("domain A", shape_a), ("domain B", shape_b)):
            need = (patch[0], max(patch[1], side), max(patch[2], side))
            if any(s < n for s, n in zip(shape, need)):
                raise UserError(
                    f"{name} volume {shape} is smaller than the patch {need} it needs", "use a smaller ccgan patch"
                )

    def sample(self) -> Batch:
        """One training batch of ``config.batch_size`` patches."""
        pairs = [self._sample_a() for _ in range(self.config.batch_size)]
        batch = {"A": np.stack([p[0] for p in pairs]), "B": np.stack([self._sample_b() for _ in pairs])}
        if self.config.seg_head:
            batch["seg"] = np.stack([maps for _, maps in pairs if maps is not None])  # every A patch has maps here
        return batch

    def _sample_a(self) -> tuple[np.ndarray, np.ndarray | None]:
        turns, flips = self._draw_augment()
        box = self._pick_box(self._shape(turns))
        image = self._augment(np.asarray(self.image_a[box]), turns, flips)
        if not self.config.seg_head:
            return self._finish(image), None
        labels = self._augment(np.asarray(self.labels_a[box]), turns, flips)
        maps = seg_targets(labels, self.config.seg_target, self.config.dims, self.config.contour_k)
        return self._finish(image), (maps[:, 0] if self.config.dims == 2 else maps)

    def _pick_box(self, shape: tuple[int, int, int]) -> tuple[slice, ...]:
        """A random A box; with ``min_foreground`` the first dense enough of ``foreground_tries``, else the densest."""
        box = self._box(self.image_a.shape, shape)
        if self.config.min_foreground <= 0:
            return box
        best, best_fraction = box, -1.0
        for _ in range(self.config.foreground_tries):
            fraction = float(np.mean(np.asarray(self.labels_a[box]) > 0))
            if fraction >= self.config.min_foreground:
                return box
            if fraction > best_fraction:
                best, best_fraction = box, fraction
            box = self._box(self.image_a.shape, shape)
        return best

    def _sample_b(self) -> np.ndarray:
        turns, flips = self._draw_augment()
        box = self._box(self.image_b.shape, self._shape(turns))
        return self._finish(self._augment(np.asarray(self.image_b[box]), turns, flips))

    def _finish(self, image: np.ndarray) -> np.ndarray:
        image = to_unit(image)
        return image[None] if self.config.dims == 3 else image

    def _draw_augment(self) -> tuple[int, tuple[bool, bool, bool]]:
        turns = int(self.rng.integers(4)) if self.config.rot90 else 0
        flips = triple(bool(f) for f in self.rng.integers(2, size=3)) if self.config.flip else (False, False, False)
        return turns, flips

    def _shape(self, turns: int) -> tuple[int, int, int]:
        z, y, x = self.patch
        return (z, x, y) if turns % 2 else (z, y, x)

    def _box(self, volume: tuple[int, ...], shape: tuple[int, int, int]) -> tuple[slice, ...]:
        origin = [int(self.rng.integers(0, n - s + 1)) for n, s in zip(volume, shape)]
        return tuple(slice(o, o + s) for o, s in zip(origin, shape))

    def _augment(self, patch: np.ndarray, turns: int, flips: tuple[bool, bool, bool]) -> np.ndarray:
        axes = [a for a, f in enumerate(flips) if f and (a > 0 or self.config.dims == 3)]
        if axes:
            patch = np.flip(patch, tuple(axes))
        if turns:
            patch = np.rot90(patch, turns, axes=(1, 2))
        return np.ascontiguousarray(patch)
