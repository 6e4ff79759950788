"""evaluate: score an instance segmentation against ground truth (ARE, VOI, F1/AP at IoU 0.5..0.95).

Writes ``<output>/metrics.json`` (one flat dict) and ``<output>/metrics.md`` (a short table). The
contingency table is accumulated block by block, so memory follows the block size, not the volume.
"""

from __future__ import annotations

import json
import logging

import numpy as np

from em2exm import ome, outputs, readers, storage
from em2exm.errors import UserError
from em2exm.invocation import Invocation
from em2exm.metrics import Contingency, flat_dict, markdown_table, score
from em2exm.metrics.contingency import ignore_small_groundtruth
from em2exm.progress import progress
from em2exm.specs.evaluate import EvaluateParams
from em2exm.tiling import Box, tile

log = logging.getLogger("em2exm.evaluate")
CORRUPT = "the label image is corrupt: rewrite it"
PRODUCTS = ("metrics.json", "metrics.md")


def open_label_image(url: str, what: str) -> ome.Volume:
    """A (Z, Y, X) integer label image."""
    try:
        volume = ome.open_image(url)
    except ValueError as exc:
        raise UserError(f"the {what} at {url} has unreadable metadata ({exc})", "rewrite it") from exc
    if volume.array.ndim != 3 or not np.issubdtype(volume.array.dtype, np.integer):
        raise UserError(f"the {what} at {url} is {volume.array.dtype} of shape {volume.shape}, not (Z, Y, X) ids",
                        "pass a label image URL such as <volume>/labels/<name>")
    readers.check_label_ids(ome.Regions(volume, CORRUPT), f"the {what} at {url}")
    return volume


def run(params: EvaluateParams, how: Invocation = Invocation()) -> None:
    """Score and write the report; a no-op when it is already complete."""
    seg = open_label_image(params.segmentation, "segmentation")
    gt = open_label_image(params.groundtruth, "ground truth")
    if seg.shape != gt.shape:
        raise UserError(f"segmentation {seg.shape} and ground truth {gt.shape} differ in shape",
                        "evaluate a segmentation of the ground truth's volume (same grid)")
    region = params.region(gt.spatial_shape)
    inputs = {"segmentation": params.segmentation, "groundtruth": params.groundtruth}
    with outputs.claim(params.output, stage="evaluate", options=params, inputs=inputs, products=PRODUCTS,
                       redo=how.redo) as output:
        if output.complete:
            return
        metrics = score_volumes(params, seg, gt, region)
        output.commit({"stage": "evaluate"})
    log.info("%d instances (ground truth %d): mAP %.3f, VOI %.3f, ARE %.3f", metrics["n_segmentation"],
             metrics["n_groundtruth"], metrics["ap"], metrics["voi"], metrics["adapted_rand_skimage"])


def score_volumes(params: EvaluateParams, seg: ome.Volume, gt: ome.Volume, region: Box) -> dict:
    """Score ``seg`` against ``gt`` block by block over ``region``; write metrics.json and metrics.md."""
    contingency = Contingency()
    boxes = tile(region, params.block)
    for box in progress(boxes, total=len(boxes), desc="evaluate"):
        contingency.add(ome.read_region(gt, box, CORRUPT), ome.read_region(seg, box, CORRUPT))
    table, ignored, ignored_voxels = ignore_small_groundtruth(contingency.table(), params.ignore_gt_smaller_than)
    if not table.gt.any():
        size = f" of >= {params.ignore_gt_smaller_than} voxels" if params.ignore_gt_smaller_than else ""
        raise UserError(f"the ground truth has no instances{size} in the evaluated region {region}",
                        "check the ground truth URL or lower evaluate.region_start (or evaluate.ignore_gt_smaller_than)")
    scores = score(table, params.thresholds)
    metrics = {
        **flat_dict(scores), "region": [[s.start, s.stop] for s in region], "judge": params.judge,
        "segmentation": seg.url, "groundtruth": gt.url, "ignore_gt_smaller_than": params.ignore_gt_smaller_than,
        "ignored_gt_instances": ignored, "ignored_gt_voxels": ignored_voxels,
    }
    storage.write_bytes(storage.join(params.output, "metrics.json"), json.dumps(metrics, indent=1).encode())
    name = seg.url.rstrip("/").rsplit("/", 1)[-1]
    storage.write_bytes(storage.join(params.output, "metrics.md"), markdown_table({name: scores}).encode())
    return metrics
