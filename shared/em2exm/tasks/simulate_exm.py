"""simulate-exm: render an ExM-like membrane image (uint8 OME-Zarr + labels/groundtruth) from instance labels.

``--labels`` is an OME-Zarr label image (e.g. ``em.zarr/labels/groundtruth`` as ingest writes it) at its own
voxel size in pre-expansion nanometres.  The output ``<output>/0`` is the simulated image at ``voxel_size`` and
``<output>/labels/groundtruth`` the labels resampled (nearest) onto the same grid.  The stain is a band at
instance boundaries (plus an optional cytosol level and per-instance brightness), blurred by a Gaussian PSF of
the optical FWHM divided by the expansion factor, then detected with Poisson shot noise, background and read
noise and scaled to uint8 by a fixed gain (see ``em2exm.simulate`` and docs/simulate_exm.md for the model and
the sources of the defaults).  Blockwise with ``--plan-blocks``/``--blocks``/``--finalise``: every block reads
only the labels under its PSF, so memory follows the block; any block plan gives the same bytes for one seed.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

from em2exm import blockwise, commit, ome
from em2exm.errors import UserError
from em2exm.invocation import Invocation
from em2exm.simulate.options import NOISE_TILE
from em2exm.simulate.render import Renderer
from em2exm.specs.simulate_exm import SimulateParams
from em2exm.tiling import BlockGrid, chunks_for

log = logging.getLogger("em2exm.simulate_exm")
LABELS_NAME = "groundtruth"
CORRUPT = "the label volume is corrupt: rewrite it (em2exm ingest)"


def open_labels(url: str) -> ome.Volume:
    """The input label image, checked to be 3-D integer ids."""
    labels = ome.open_image(url)
    if len(labels.shape) != 3 or min(labels.shape) < 1:
        raise UserError(f"labels {url} have shape {labels.shape}, not (z, y, x)", "pass a 3-D instance label image")
    if not np.issubdtype(labels.array.dtype, np.integer):
        raise UserError(f"labels {url} are {labels.array.dtype}, not an integer type", "pass instance ids (integers)")
    return labels


def check_block(block: tuple[int, int, int]) -> None:
    """Blocks must be whole noise tiles, so that noise does not depend on the block plan."""
    if any(b < t or b % t for b, t in zip(block, NOISE_TILE)):
        raise UserError(f"simulate block {list(block)} is not a multiple of the noise tile {list(NOISE_TILE)}",
                        f"set block to multiples of {list(NOISE_TILE)}, e.g. [32, 64, 64]")


class Simulation:
    """The checked input, the output layout and the three blockwise phases of one simulation."""

    def __init__(self, params: SimulateParams) -> None:
        check_block(params.block)
        self.params = params
        self.labels = open_labels(params.labels)
        self.renderer = Renderer(params, self.labels.spatial_shape, self.labels.voxel_size)
        self.shape = self.renderer.shape
        self.boxes = BlockGrid(self.shape, params.block).cores()
        self.chunks = chunks_for(params.block, self.shape)

    def prepare(self) -> None:
        """Create the empty output image and its label image."""
        p = self.params
        provenance = {"stage": "simulate-exm", "inputs": {"labels": p.labels}, "params": p.model_dump(mode="json"),
                      "gain": self.renderer.gain}
        ome.create_image(p.output, self.shape, np.uint8, p.output_voxel(), chunks=self.chunks, provenance=provenance)
        ome.create_labels(p.output, LABELS_NAME, self.labels.array.dtype, chunks=self.chunks, provenance=provenance)

    def process(self, index: int) -> dict[str, Any]:
        """Render block ``index`` and write its image and labels."""
        box = self.boxes[index]
        block = self.renderer.render(lambda read: ome.read_region(self.labels, read, CORRUPT), box)
        ome.open_image(self.params.output, mode="r+").array[box] = block.image
        ome.open_labels(self.params.output, LABELS_NAME, mode="r+").array[box] = block.labels
        if block.clipped.low or block.clipped.high:
            log.info("block %d: %d voxels clipped at 0, %d at 255", index, block.clipped.low, block.clipped.high)
        return {"box": [[s.start, s.stop] for s in box], "clipped_low": block.clipped.low,
                "clipped_high": block.clipped.high}

    def finalise(self) -> dict[str, Any]:
        """Sum the clipped voxels of every block (nothing to merge)."""
        infos = [commit.read_block_info(self.params.output, i) for i in range(len(self.boxes))]
        low, high = (sum(info.get(k, 0) for info in infos) for k in ("clipped_low", "clipped_high"))
        total = math.prod(self.shape)
        log.info("clipped %d voxels at 0 and %d at 255 of %d (%.3f%%)", low, high, total, 100 * (low + high) / total)
        return {"stage": "simulate-exm", "shape": list(self.shape), "gain": self.renderer.gain,
                "clipped_low": low, "clipped_high": high}

    def job(self) -> blockwise.BlockwiseJob:
        """The blockwise job over this simulation's blocks."""
        p = self.params
        return blockwise.BlockwiseJob(
            "simulate-exm", p.output, p, {"labels": p.labels}, ome.image_products(LABELS_NAME), len(self.boxes),
            self.prepare, self.process, self.finalise,
            plan={"shape": list(self.shape), "chunks": list(self.chunks), "dtype": str(self.labels.array.dtype)},
        )

def run(params: SimulateParams, how: Invocation = Invocation()) -> None:
    """Run the stage (or the blockwise phase ``how`` asks for) with ``params``."""
    simulation = Simulation(params)
    log.info("%d blocks of %s over an output of %s voxels of %s nm", len(simulation.boxes), params.block,
             simulation.shape, params.output_voxel())
    blockwise.run(simulation.job(), how)
