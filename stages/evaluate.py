"""evaluate: score an instance segmentation against ground truth (ARE, VOI, F1/AP at IoU 0.5..0.95).

Writes ``<output>/metrics.json`` (one flat dict) and ``<output>/metrics.md`` (a short table). The
contingency table is accumulated block by block, so memory follows the block size, not the volume.
"""

from __future__ import annotations

import itertools
import json
import logging
import sys
from collections.abc import Iterator, Sequence

import numpy as np
from em2exm import ome, outputs, readers, stagekit, storage
from em2exm.errors import UserError
from em2exm.metrics import Contingency, flat_dict, markdown_table, score
from em2exm.metrics.contingency import ignore_small_groundtruth
from em2exm.metrics.options import Box, EvaluateOptions
from em2exm.progress import progress
from pydantic import Field

log = logging.getLogger("em2exm.evaluate")
CORRUPT = "the label image is corrupt: rewrite it"
PRODUCTS = ("metrics.json", "metrics.md")


class EvaluateParams(EvaluateOptions):
    """The evaluate options plus the two label images and the output folder."""

    segmentation: str = Field(description="label image URL of the segmentation, e.g. <predictions>/labels/instances")
    groundtruth: str = Field(description="label image URL of the ground truth on the same grid, e.g. "
                                         "<exm.zarr>/labels/groundtruth")
    output: str = Field(description="folder URL for metrics.json and metrics.md")


def parse(argv: Sequence[str]) -> tuple[EvaluateParams, outputs.Redo]:
    """Options and when to redo a finished output (--overwrite, --update) from the command line."""
    parser = stagekit.make_parser("evaluate", __doc__.splitlines()[0], EvaluateParams, "evaluate")
    parser.add_argument("--segmentation", help="label image URL, e.g. <predictions>/labels/instances")
    parser.add_argument("--groundtruth", help="label image URL, e.g. <exm.zarr>/labels/groundtruth")
    parser.add_argument("--output", help="folder URL for metrics.json and metrics.md")
    args = parser.parse_args(argv)
    flags = {"segmentation": args.segmentation, "groundtruth": args.groundtruth, "output": args.output}
    return stagekit.options_from_args(args, "evaluate", EvaluateParams, flags), stagekit.redo(args)


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


def blocks(region: Box, block: tuple[int, int, int]) -> Iterator[Box]:
    """Boxes of at most ``block`` voxels tiling ``region``."""
    starts = [range(r.start, r.stop, b) for r, b in zip(region, block)]
    for corner in itertools.product(*starts):
        yield tuple(slice(c, min(c + b, r.stop)) for c, b, r in zip(corner, block, region))  # type: ignore[misc]


def run(params: EvaluateParams, redo: outputs.Redo) -> None:
    """Score and write the report; a no-op when it is already complete."""
    seg = open_label_image(params.segmentation, "segmentation")
    gt = open_label_image(params.groundtruth, "ground truth")
    if seg.shape != gt.shape:
        raise UserError(f"segmentation {seg.shape} and ground truth {gt.shape} differ in shape",
                        "evaluate a segmentation of the ground truth's volume (same grid)")
    region = params.region(gt.spatial_shape)
    inputs = {"segmentation": params.segmentation, "groundtruth": params.groundtruth}
    with outputs.claim(params.output, stage="evaluate", options=params, inputs=inputs, products=PRODUCTS,
                       redo=redo) as output:
        if output.complete:
            return
        metrics = score_volumes(params, seg, gt, region)
        output.commit({"stage": "evaluate"})
    log.info("%d instances (ground truth %d): mAP %.3f, VOI %.3f, ARE %.3f", metrics["n_segmentation"],
             metrics["n_groundtruth"], metrics["ap"], metrics["voi"], metrics["adapted_rand_skimage"])


def score_volumes(params: EvaluateParams, seg: ome.Volume, gt: ome.Volume, region: Box) -> dict:
    """Score ``seg`` against ``gt`` block by block over ``region``; write metrics.json and metrics.md."""
    contingency = Contingency()
    boxes = list(blocks(region, params.block))
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


def main(argv: Sequence[str]) -> None:
    params, redo = parse(argv)
    run(params, redo)


if __name__ == "__main__":
    sys.exit(stagekit.run_stage(main))
