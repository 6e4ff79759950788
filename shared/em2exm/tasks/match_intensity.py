"""match-intensity: the no-learning baseline -- EM inverted, blurred and histogram-matched to an ExM volume, blockwise.

With ``source: labels`` the EM's instance labels drawn as membranes (a two-voxel band at every boundary) take
the EM image's place: blurred and histogram-matched the same way (polarity decided the same way), for
membrane-stained ExM where the EM's organelles are structure the stain does not show.

Writes the OME-Zarr ``--output`` like ccgan-transfer does: ``<output>/0`` the transformed EM (uint8, the EM's
grid) and ``<output>/labels/groundtruth`` the ``--labels`` carried over, so build-dataset can pair them. The
polarity (``invert: auto`` compares the sign of both histograms' skewness), the blur (``target_resolution_nm``,
or ``auto``: the sigma per axis whose blur gives the EM the ExM volume's short-range autocorrelation) and the
grey-level table are decided once in the prepare phase (a pass over both volumes, memory bounded by the block)
and stored in the output's attributes; blocks then apply them with a halo, so any block split gives the same bytes.
"""

from __future__ import annotations

import logging

import numpy as np

from em2exm import blockwise, ome
from em2exm import intensity_match as match
from em2exm.errors import UserError
from em2exm.invocation import Invocation
from em2exm.progress import progress
from em2exm.specs.match_intensity import MatchParams
from em2exm.tiling import BlockGrid, Readable, chunks_for, tile, triple

log = logging.getLogger("em2exm.match_intensity")
LABELS_NAME = "groundtruth"
STATS_CROP = (64, 192, 192)
CORRUPT = "the input volume is corrupt: rewrite it (em2exm ingest)"


def _open_uint8(url: str, what: str) -> ome.Volume:
    volume = ome.open_image(url)
    if len(volume.shape) != 3 or volume.array.dtype != np.uint8:
        raise UserError(f"{what} {url} is {volume.array.dtype} {volume.shape}, not uint8 (z, y, x)",
                        "pass a volume written by em2exm ingest")
    return volume


def _centre_crop(volume: Readable) -> np.ndarray:
    box = tuple(slice(max(0, (n - c) // 2), max(0, (n - c) // 2) + min(n, c)) for n, c in zip(volume.shape, STATS_CROP))
    return volume[box]


class Matching:
    """The checked inputs and the three blockwise phases of one match."""

    def __init__(self, params: MatchParams) -> None:
        self.params = params
        self.image = _open_uint8(params.image, "image")
        self.target = _open_uint8(params.target, "target")
        self.labels = ome.open_image(params.labels) if params.labels else None
        if self.labels is not None and self.labels.shape != self.image.shape:
            raise UserError(f"labels {self.labels.shape} and image {self.image.shape} differ in shape",
                            "pass the labels of the --image volume (its labels/groundtruth)")
        if any(b < 1 for b in params.block):
            raise UserError(f"block {params.block} must be positive", "set match.block to e.g. [64, 256, 256]")
        self.source: Readable
        if params.source == "labels":
            if self.labels is None:
                raise UserError("match.source is 'labels' but no --labels were given",
                                "pass the EM's labels (--labels run/em.zarr/labels/groundtruth) or set match.source: image")
            self.source = match.DrawnMembranes(ome.Regions(self.labels, CORRUPT))
        else:
            self.source = ome.Regions(self.image, CORRUPT)
        self.boxes = BlockGrid(self.image.spatial_shape, params.block).cores()
        self.chunks = chunks_for(params.block, self.image.spatial_shape)

    def decide(self) -> match.Transform:
        """Polarity and blur from both volumes (a crop each for the autocorrelation)."""
        p = self.params
        source_counts = self._counts(self.source)
        target = ome.Regions(self.target, CORRUPT)
        invert = p.invert if p.invert != "auto" else match.opposite_polarity(source_counts, self._counts(target))
        if p.target_resolution_nm is not None:
            sigma = match.sigma_from_resolution(p.target_resolution_nm, self.image.voxel_size)
        else:
            source_crop, target_crop = _centre_crop(self.source), _centre_crop(target)
            sigma = triple(match.matching_sigma(source_crop, target_crop, axis) for axis in range(3))
        return match.Transform(bool(invert), sigma)

    def _counts(self, volume: Readable) -> np.ndarray:
        counts = np.zeros(256, np.int64)
        for box in tile(volume.shape, self.params.block):
            counts += match.histogram(volume[box])
        return counts

    def prepare(self) -> None:
        """Decide the transform, build the grey-level table and create the outputs (empty)."""
        transform = self.decide()
        counts = np.zeros(256, np.int64)
        for box in progress(self.boxes, total=len(self.boxes), desc="match histogram"):
            counts += match.histogram(transform.block(self.source, box))
        table = match.cdf_table(counts, self._counts(ome.Regions(self.target, CORRUPT)))
        log.info("invert %s, blur sigma %s voxels", transform.invert, transform.sigma)
        p = self.params
        provenance = {
            "stage": "match-intensity", "inputs": {"image": p.image, "labels": p.labels, "target": p.target},
            "params": p.model_dump(mode="json"),
            "match": {"invert": transform.invert, "sigma": list(transform.sigma), "table": table.tolist()},
        }
        ome.create_image(p.output, self.image.spatial_shape, np.uint8, self.image.voxel_size, chunks=self.chunks,
                         provenance=provenance)
        if self.labels is not None:
            ome.create_labels(p.output, LABELS_NAME, self.labels.array.dtype, chunks=self.chunks, provenance=provenance)

    def _decided(self) -> tuple[match.Transform, np.ndarray]:
        stored = ome.open_image(self.params.output).attrs["match"]
        return match.Transform(stored["invert"], tuple(stored["sigma"])), np.array(stored["table"], np.uint8)

    def process(self, index: int) -> dict:
        """Transform block ``index`` and copy its labels."""
        box = self.boxes[index]
        transform, table = self._decided()
        out = ome.open_image(self.params.output, mode="r+").array
        out[box] = table[transform.block(self.source, box)]
        if self.labels is not None:
            ome.open_labels(self.params.output, LABELS_NAME, mode="r+").array[box] = ome.read_region(self.labels, box, CORRUPT)
        return {"box": [[s.start, s.stop] for s in box]}

    def finalise(self) -> dict:
        transform, _ = self._decided()
        return {"stage": "match-intensity", "invert": transform.invert, "sigma": list(transform.sigma)}

    def job(self) -> blockwise.BlockwiseJob:
        p = self.params
        return blockwise.BlockwiseJob(
            "match-intensity", p.output, p, {"image": p.image, "labels": p.labels, "target": p.target},
            ome.image_products(LABELS_NAME), len(self.boxes), self.prepare, self.process, self.finalise,
            plan={"shape": list(self.image.shape), "target_shape": list(self.target.shape)},
        )

def run(params: MatchParams, how: Invocation = Invocation()) -> None:
    """Run the stage (or the blockwise phase ``how`` asks for) with ``params``."""
    blockwise.run(Matching(params).job(), how)
