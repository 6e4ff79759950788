"""seg-infer: blockwise sliding-window inference of a trained U-Net -> uint8 maps (C, Z, Y, X) OME-Zarr.

``--checkpoint`` is a committed seg-train output folder (or a ``.pt`` file in one, to use an unfinished run).
The output holds trunc(255 * p) per map with the image's voxel size; ``attributes.em2exm.channels`` names the
maps in channel order (e.g. ``["foreground", "contour", "distance"]``).  Blocks share one global window grid and
fixed window batches, so any block split (``--plan-blocks``/``--blocks``/``--finalise``) gives exactly the
whole-volume result; peak memory follows the block size (options ``infer.block``), not the volume.
"""

from __future__ import annotations

import logging
from functools import cached_property

import numpy as np

from em2exm import blockwise, ome
from em2exm.checkpoints import finished_checkpoint
from em2exm.devices import resolve_device
from em2exm.errors import UserError
from em2exm.invocation import Invocation
from em2exm.seg.blocks import BlockPlan, infer_block
from em2exm.seg.checkpoint import load_checkpoint, model_from_checkpoint
from em2exm.seg.config import InferOptions, SegTrainConfig
from em2exm.seg.heads import channel_names
from em2exm.seg.predict import Predictor
from em2exm.seg.runtime import keep_freed_memory
from em2exm.seg.window import SlidingWindow
from em2exm.specs.seg_infer import SegInferParams
from em2exm.tiling import chunks_for

log = logging.getLogger("em2exm.seg_infer")


class Inference:
    """The three blockwise phases for one image, model and plan."""

    def __init__(self, params: SegInferParams, state: dict) -> None:
        self.params = params
        self.model, self.config = model_from_checkpoint(state)
        self.image = ome.open_image(params.image)
        if len(self.image.shape) != 3:
            raise UserError(f"image {params.image} has axes {self.image.axes}, not (z, y, x)", "pass a 3-D image")
        self.device = resolve_device(params.device)
        window = SlidingWindow.from_overlap(
            params.window or self.config.patch, params.overlap, params.pad, params.blending, params.sigma
        )
        self.plan = BlockPlan(self.image.spatial_shape, params.block, window, params.batch_size)
        self.channels = channel_names(self.config.target, self.config.distance)

    def prepare(self) -> None:
        shape = (len(self.channels), *self.image.spatial_shape)
        provenance = {
            "stage": "seg-infer",
            "inputs": {"image": self.params.image, "checkpoint": self.params.checkpoint},
            "channels": self.channels,
            "scale": 255,
            "training": _training_summary(self.config),
            "infer": self.params.model_dump(mode="json", include=set(InferOptions.model_fields)),
        }
        ome.create_image(
            self.params.output, shape, np.uint8, self.image.voxel_size, axes=("c", "z", "y", "x"),
            chunks=(1, *chunks_for(self.params.block, self.image.spatial_shape)), provenance=provenance,
            name="predictions",
        )

    @cached_property
    def predictor(self) -> Predictor:
        """The model prepared for inference (built on first use: --plan-blocks and --finalise need none)."""
        if self.device.type == "cpu":
            keep_freed_memory()
        bf16 = self.params.amp and self.device.type == "cuda"
        return Predictor(self.model, self.config.target, self.params.batch_size, self.params.tta, self.device, bf16)

    def process(self, index: int) -> dict:
        block = self.plan[index]
        result = infer_block(self.predictor, ome.Regions(self.image, "the image is corrupt: rewrite it (em2exm ingest)"), block)
        ome.open_image(self.params.output, mode="r+").array[(slice(None), *block.core)] = result
        return {"core": [[s.start, s.stop] for s in block.core]}

    def finalise(self) -> dict:
        return {"stage": "seg-infer", "channels": self.channels}


def _training_summary(config: SegTrainConfig) -> dict:
    keys = ("preset", "target", "distance", "distance_mode", "distance_bg", "contour_k", "voxel_size", "patch")
    return config.model_dump(mode="json", include=set(keys))

def run(params: SegInferParams, how: Invocation = Invocation()) -> None:
    """Run the stage (or the blockwise phase ``how`` asks for) with ``params``."""
    inference = Inference(params, load_checkpoint(finished_checkpoint(params.checkpoint, "seg-train")))
    log.info("%d blocks of %s, window %s", len(inference.plan), params.block, inference.plan.window.size)
    image = inference.image
    job = blockwise.BlockwiseJob(
        "seg-infer", params.output, params, {"image": params.image, "checkpoint": params.checkpoint}, ome.image_products(),
        len(inference.plan), inference.prepare, inference.process, inference.finalise,
        plan={"shape": list(image.shape), "dtype": str(image.array.dtype), "channels": inference.channels},
    )
    blockwise.run(job, how)
