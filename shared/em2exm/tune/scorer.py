"""Decode the maps around a box with given options (the blockwise decoder, in the decode stage's blocks) and score
the box against its labels (the evaluate stage's metrics)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from em2exm import ome
from em2exm.decode import decode_blockwise
from em2exm.decode.options import DecodeOptions
from em2exm.errors import UserError
from em2exm.metrics import pair_counts, score
from em2exm.metrics.contingency import ignore_small_groundtruth
from em2exm.tiling import Box, triple


def parse_box(text: str, shape: Sequence[int], what: str) -> Box:
    """``'z0:z1,y0:y1,x0:x1'`` (an empty bound is the volume's edge) as slices inside ``shape``."""
    parts = text.split(",")
    fix = f"write {what} as z0:z1,y0:y1,x0:x1 inside the volume {tuple(shape)} (end exclusive; ':' is a whole axis)"
    if len(parts) != 3 or any(p.count(":") != 1 for p in parts):
        raise UserError(f"{what} '{text}' is not three ranges", fix)
    box = []
    for part, size in zip(parts, shape):
        low, high = part.split(":")
        try:
            start, stop = int(low) if low.strip() else 0, int(high) if high.strip() else int(size)
        except ValueError as exc:
            raise UserError(f"{what} '{text}' has a bound that is no integer", fix) from exc
        if not 0 <= start < stop <= size:
            raise UserError(f"{what} '{text}' is empty or outside the volume {tuple(shape)}", fix)
        box.append(slice(start, stop))
    return triple(box)


def box_text(box: Box) -> str:
    return ",".join(f"{s.start}:{s.stop}" for s in box)


class Scorer:
    """Scores decode options on one box: decodes the box grown by ``margin`` (clipped to the volume), scores the box."""

    def __init__(self, maps: ome.Volume, labels: np.ndarray, box: Box, margin: Sequence[int], ignore: int) -> None:
        shape = maps.spatial_shape
        outer = tuple(slice(max(0, b.start - m), min(n, b.stop + m)) for b, m, n in zip(box, margin, shape))
        self.maps = ome.read_region(maps, (slice(None), *outer), "the predictions are corrupt: rerun seg-infer")
        self.inner = tuple(slice(b.start - o.start, b.stop - o.start) for b, o in zip(box, outer))
        self.labels, self.ignore, self.box = labels, ignore, box
        if not ignore_small_groundtruth(pair_counts(labels, labels), ignore)[0].gt.any():
            raise UserError(f"the labels have no instances of >= {ignore} voxels in the box {box_text(box)}",
                            "choose a box with labelled objects (or lower ignore_gt_smaller_than)")

    def __call__(self, options: DecodeOptions, mode: str) -> dict[str, float]:
        """Scores of ``options`` decoded with ``mode`` in the decode stage's blocks (at most the volume)."""
        block = tuple(min(b, s) for b, s in zip(options.block, self.maps.shape[1:]))
        segmentation = decode_blockwise(self.maps, block, options.spec(mode))[self.inner]
        table, _, _ = ignore_small_groundtruth(pair_counts(self.labels, segmentation), self.ignore)
        found = score(table, (0.5,))
        return {"voi": found.voi_split + found.voi_merge, "voi_split": found.voi_split, "voi_merge": found.voi_merge,
                "rand": found.are_skimage, "ap50": found.at(0.5).ap, "instances": found.n_seg,
                "groundtruth": found.n_gt}
