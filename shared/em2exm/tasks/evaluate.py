"""evaluate: score an instance segmentation against ground truth (ARE, VOI, F1/AP at IoU 0.5..0.95).

Writes ``<output>/metrics.json`` (one flat dict) and ``<output>/metrics.md`` (a short table). Blockwise: each block's
contingency table (voxels per (ground truth, segmentation) id pair) is stored under ``<output>/.tables/``; finalise
sums them and scores. Memory follows the block size and the number of id pairs, never the volume.
"""

from __future__ import annotations

import io
import json
import logging

import numpy as np

from em2exm import blockwise, ome, readers, storage
from em2exm.errors import UserError
from em2exm.invocation import Invocation
from em2exm.metrics import Contingency, Table, flat_dict, markdown_table, pair_counts, score
from em2exm.metrics.contingency import ignore_small_groundtruth
from em2exm.progress import progress
from em2exm.specs.evaluate import EvaluateParams
from em2exm.tiling import Box, tile

log = logging.getLogger("em2exm.evaluate")
CORRUPT = "the label image is corrupt: rewrite it"
PRODUCTS = ("metrics.json", "metrics.md")
TABLES = ".tables"


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
    """Check the inputs, then run the blockwise phases ``how`` asks for (all of them by default)."""
    seg = open_label_image(params.segmentation, "segmentation")
    gt = open_label_image(params.groundtruth, "ground truth")
    if seg.shape != gt.shape:
        raise UserError(f"segmentation {seg.shape} and ground truth {gt.shape} differ in shape",
                        "evaluate a segmentation of the ground truth's volume (same grid)")
    region = params.region(gt.spatial_shape)
    boxes = tile(region, params.block)
    scoring = Scoring(params, seg, gt, region, boxes)
    job = blockwise.BlockwiseJob(
        "evaluate", params.output, params, {"segmentation": params.segmentation, "groundtruth": params.groundtruth},
        (*PRODUCTS, TABLES), len(boxes), lambda: None, scoring.count_block, scoring.finalise,
        plan={"shape": [s.stop - s.start for s in region]},
    )
    blockwise.run(job, how)


class Scoring:
    """evaluate's phases: count one block's id pairs; sum every block's and score."""

    def __init__(self, params: EvaluateParams, seg: ome.Volume, gt: ome.Volume, region: Box, boxes: list[Box]) -> None:
        self.params, self.seg, self.gt, self.region, self.boxes = params, seg, gt, region, boxes

    def table_url(self, block_id: int) -> str:
        return storage.join(self.params.output, TABLES, f"{block_id}.npz")

    def count_block(self, block_id: int) -> dict[str, int]:
        box = self.boxes[block_id]
        table = pair_counts(ome.read_region(self.gt, box, CORRUPT), ome.read_region(self.seg, box, CORRUPT))
        buffer = io.BytesIO()
        np.savez_compressed(buffer, allow_pickle=False, gt=table.gt, seg=table.seg, counts=table.counts)
        storage.write_atomic(self.table_url(block_id), buffer.getvalue())
        return {"pairs": int(table.counts.size)}

    def finalise(self) -> dict[str, str]:
        contingency = Contingency()
        for block_id in progress(range(len(self.boxes)), desc="sum tables"):
            with np.load(io.BytesIO(storage.read_bytes(self.table_url(block_id)))) as arrays:
                contingency.add_table(Table(arrays["gt"], arrays["seg"], arrays["counts"]))
        metrics = write_scores(self.params, self.seg, self.gt, self.region, contingency.table())
        log.info("%d instances (ground truth %d): mAP %.3f, VOI %.3f, ARE %.3f", metrics["n_segmentation"],
                 metrics["n_groundtruth"], metrics["ap"], metrics["voi"], metrics["adapted_rand_skimage"])
        return {"stage": "evaluate"}


def write_scores(params: EvaluateParams, seg: ome.Volume, gt: ome.Volume, region: Box, counted: Table) -> dict:
    """Score the contingency table of ``seg`` against ``gt`` over ``region``; write metrics.json and metrics.md."""
    table, ignored, ignored_voxels = ignore_small_groundtruth(counted, params.ignore_gt_smaller_than)
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
