"""ccgan-transfer: translate an EM volume into the ExM domain with the trained generator G_A (or ExM into EM with G_B), blockwise.

Writes the OME-Zarr ``--output``:

- ``<output>/0``: the translated image, uint8, on the input's grid and voxel size;
- ``<output>/labels/groundtruth``: the ``--labels`` of the input carried over unchanged (when given), so
  build-dataset can pair them with the translated image;
- ``<output>/seg_probability``: when the generator has a segmentation head, its maps as a nested OME-Zarr
  image (c, z, y, x; no labels of its own), uint8 = probability * 255, channels in ``seg_target`` order
  (b: foreground, c: contour; a distance channel d is stored as (d + 1) / 2 * 255), named in
  ``attributes.em2exm.channels`` as seg-infer names its maps, so decode reads them alike. With ``generator: G_B``
  on an ExM volume these maps are a segmentation of the ExM volume by the CCGAN alone.

``--checkpoint`` is a finished ccgan-train output folder (or a ``checkpoint.pt`` file in one). 2D generators
translate slice by slice, 3D ones in windows that overlap by ``overlap`` and are blended per voxel (see
``em2exm.ccgan.translate``). The output is cut into ``block``-sized blocks, each read with its window halo
only (memory follows the block, not the volume) and committed on its own: ``--plan-blocks``, ``--blocks``
and ``--finalise`` fan it out, and a killed run resumes with the unfinished blocks.
"""

from __future__ import annotations

import logging
from functools import cached_property
from typing import Any

import numpy as np

from em2exm import blockwise, ome, storage
from em2exm.ccgan import resnet
from em2exm.ccgan.checkpoint import checkpoint_config, generator_from_checkpoint, load_checkpoint
from em2exm.ccgan.translate import Translator
from em2exm.checkpoints import finished_checkpoint
from em2exm.devices import resolve_device
from em2exm.errors import UserError
from em2exm.invocation import Invocation
from em2exm.specs.ccgan_transfer import TransferParams
from em2exm.tiling import BlockGrid, chunks_for

log = logging.getLogger("em2exm.ccgan_transfer")
LABELS_NAME = "groundtruth"
SEG = "seg_probability"
SEG_NAMES = {"b": "foreground", "c": "contour", "d": "distance"}
CORRUPT = "the input volume is corrupt: rewrite it (em2exm ingest)"


class Transfer:
    """The checked inputs, the output layout and the three blockwise phases of one transfer."""

    def __init__(self, params: TransferParams) -> None:
        self.params = params
        self.state = load_checkpoint(finished_checkpoint(params.checkpoint, "ccgan-train"))
        self.config = checkpoint_config(self.state)
        self.generator = generator_from_checkpoint(self.state, params.generator)  # weights checked before anything is written
        self.image = ome.open_image(params.image)
        self.labels = ome.open_image(params.labels) if params.labels else None
        self.shape = self._check_inputs()
        self.patch = self._check_patch()
        self.device = resolve_device(params.device)
        self.boxes = BlockGrid(self.shape, params.block).cores()
        self.chunks = chunks_for(params.block, self.shape)
        self.seg_channels = self.config.seg_channels

    def _check_inputs(self) -> tuple[int, int, int]:
        image, labels = self.image, self.labels
        if len(image.shape) != 3 or image.array.dtype != np.uint8:
            raise UserError(
                f"image {image.url} is {image.array.dtype} {image.shape}, not uint8 (z, y, x)",
                "pass a volume written by em2exm ingest",
            )
        if labels is not None and labels.shape != image.shape:
            raise UserError(
                f"labels {labels.shape} and image {image.shape} differ in shape",
                "pass the labels of the --image volume (its labels/groundtruth)",
            )
        if labels is not None and not np.issubdtype(labels.array.dtype, np.integer):
            raise UserError(f"labels dtype {labels.array.dtype} is not an integer type", "pass instance labels")
        return image.spatial_shape

    def _check_patch(self) -> tuple[int, ...]:
        patch = tuple(self.params.patch or self.config.patch_shape)
        if len(patch) != self.config.dims:
            raise UserError(
                f"transfer patch {patch} needs {self.config.dims} sizes for this {self.config.dims}D generator",
                "give (Y, X) for 2D or (Z, Y, X) for 3D, or leave patch unset",
            )
        if self.config.netG != "unet_3d" and min(patch) < resnet.MIN_SIZE:
            raise UserError(f"transfer patch {patch} is too small", f"use >= {resnet.MIN_SIZE} voxels per axis")
        return patch

    @cached_property
    def translator(self) -> Translator:
        """The generator on the device with this volume's window grid (moved to the device on first use)."""
        p = self.params
        return Translator(
            self.generator.to(self.device),
            self.shape,
            self.config.dims,
            self.patch,
            p.overlap,
            self.device,
            blend=p.blend,
            batch_size=p.batch_size,
            amp=p.amp,
        )

    def prepare(self) -> None:
        """Create the output image, the carried-over labels and the segmentation maps (all empty)."""
        p = self.params
        provenance = {
            "stage": "ccgan-transfer",
            "inputs": {"checkpoint": p.checkpoint, "image": p.image, "labels": p.labels},
            "params": p.model_dump(mode="json"),
        }
        voxel = self.image.voxel_size
        ome.create_image(p.output, self.shape, np.uint8, voxel, chunks=self.chunks, provenance=provenance)
        if self.labels is not None:
            ome.create_labels(p.output, LABELS_NAME, self.labels.array.dtype, chunks=self.chunks, provenance=provenance)
        if self.seg_channels:
            ome.create_image(
                storage.join(p.output, SEG),
                (self.seg_channels, *self.shape),
                np.uint8,
                voxel,
                axes=("c", "z", "y", "x"),
                chunks=(1, *self.chunks),
                provenance={**provenance, "channels": [SEG_NAMES[c] for c in self.config.seg_target]},
                name=SEG,
            )

    def process(self, index: int) -> dict[str, Any]:
        """Translate block ``index`` and copy its labels."""
        box = self.boxes[index]
        image, seg = self.translator(lambda b: ome.read_region(self.image, b, CORRUPT), box)
        ome.open_image(self.params.output, mode="r+").array[box] = image
        if seg is not None:
            ome.open_image(storage.join(self.params.output, SEG), mode="r+").array[(slice(None), *box)] = seg
        if self.labels is not None:
            ome.open_labels(self.params.output, LABELS_NAME, mode="r+").array[box] = ome.read_region(self.labels, box, CORRUPT)
        return {"box": [[s.start, s.stop] for s in box]}

    def finalise(self) -> dict[str, Any]:
        """Nothing to merge: every block wrote its own voxels."""
        return {
            "stage": "ccgan-transfer",
            "shape": list(self.shape),
            "seg": self.config.seg_target if self.seg_channels else "",
        }

    def job(self) -> blockwise.BlockwiseJob:
        """The blockwise job over this transfer's blocks."""
        p = self.params
        return blockwise.BlockwiseJob(
            "ccgan-transfer", p.output, p, {"checkpoint": p.checkpoint, "image": p.image, "labels": p.labels},
            (*ome.image_products(LABELS_NAME), SEG), len(self.boxes), self.prepare, self.process, self.finalise,
            plan={"shape": list(self.shape), "patch": list(self.patch), "chunks": list(self.chunks)},
        )

def run(params: TransferParams, how: Invocation = Invocation()) -> None:
    """Run the stage (or the blockwise phase ``how`` asks for) with ``params``."""
    transfer = Transfer(params)
    blockwise.run(transfer.job(), how)
