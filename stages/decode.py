"""decode: network maps (uint8 C,Z,Y,X OME-Zarr from seg-infer) -> instance labels, blockwise with stitching.

Writes ``<predictions>/labels/<name>``. Each block is decoded with a halo and written with block-local
ids, its merge info stored under ``<labels>/.faces/``; finalise merges objects across block faces and
rewrites every block with consecutive global ids 1..N. ``--plan-blocks``, ``--blocks`` and
``--finalise`` run those phases as separate tasks (see em2exm.blockwise).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np
from em2exm import blockwise, ome, stagekit, storage
from em2exm.decode import BlockPlan, decode_block, merge_loaded
from em2exm.decode import store as state
from em2exm.decode.options import DecodeOptions
from em2exm.errors import UserError
from em2exm.progress import progress
from pydantic import Field

log = logging.getLogger("em2exm.decode")


class DecodeParams(DecodeOptions):
    """The decode options plus this run's input and label name."""

    predictions: str
    name: str = Field("instances", pattern=r"^[A-Za-z0-9_.-]+$")


def parse(argv: Sequence[str]) -> tuple[DecodeParams, Any]:
    """Options and the parsed flags (for --overwrite and the blockwise phases)."""
    parser = stagekit.make_parser("decode", __doc__.splitlines()[0])
    parser.add_argument("--predictions", help="OME-Zarr image of uint8 maps (C,Z,Y,X) written by seg-infer")
    parser.add_argument("--name", help="label image name under <predictions>/labels (default: instances)")
    blockwise.add_block_flags(parser)
    args = parser.parse_args(argv)
    flags = {"predictions": args.predictions, "name": args.name}
    return stagekit.options_from_args(args, "decode", DecodeParams, flags), args


def open_predictions(url: str, float_scale: float | None) -> ome.Volume:
    """The prediction image, checked to be (C, Z, Y, X) maps the decoders can read."""
    try:
        volume = ome.open_image(url)
    except ValueError as exc:
        raise UserError(f"the predictions at {url} have unreadable metadata ({exc})",
                        "rewrite them with seg-infer") from exc
    if volume.array.ndim != 4:
        raise UserError(f"the predictions at {url} have shape {volume.shape}, not (C, Z, Y, X)",
                        "pass the maps written by seg-infer (axes c,z,y,x)")
    dtype = volume.array.dtype
    if dtype != np.uint8 and not (np.issubdtype(dtype, np.floating) and float_scale is not None):
        raise UserError(f"the predictions at {url} are {dtype}, not uint8",
                        "pass uint8 maps (0..255) or, for float probabilities, set decode.float_scale=255")
    return volume


class _Reader:
    """The prediction array, read region by region; read failures become UserError."""

    def __init__(self, volume: ome.Volume) -> None:
        self.volume = volume

    def __getitem__(self, key: tuple[slice, ...]) -> np.ndarray:
        try:
            return np.asarray(self.volume.array[key])
        except (OSError, RuntimeError, ValueError) as exc:
            raise UserError(f"cannot read {self.volume.url} at {key} ({exc})",
                            "the predictions are corrupt: rerun seg-infer") from exc


def make_plan(shape: tuple[int, int, int], params: DecodeParams) -> BlockPlan:
    """Blocks no larger than the volume; local ids must fit the label dtype."""
    plan = BlockPlan(shape, tuple(min(b, s) for b, s in zip(params.block, shape)), params.halo)  # type: ignore[arg-type]
    if plan.id_stride > np.iinfo(params.dtype).max:
        raise UserError(f"blocks of {plan.block} with halo {plan.halo} are too large for {params.dtype} ids",
                        "use smaller blocks or set decode.dtype=uint64")
    return plan


def chunks(plan: BlockPlan) -> tuple[int, ...]:
    """Label chunks that tile every block, so blocks written in parallel never share a chunk."""
    return tuple(min(64 if b % 64 == 0 else b, s) for b, s in zip(plan.block, plan.shape))


def run(params: DecodeParams, args: Any) -> None:
    """Check the input, then run the blockwise phases the flags ask for."""
    volume = open_predictions(params.predictions, params.float_scale)
    names, channels = volume.attrs.get("channels"), volume.shape[0]
    if names and len(names) != channels:
        raise UserError(f"the predictions name {len(names)} channels {names} but have {channels}",
                        "rewrite them with seg-infer")
    mode = params.resolve_mode(channels, names)
    decoder = params.decoder(mode)
    decoder(np.zeros((channels, 1, 1, 1), volume.array.dtype))  # checks every option before anything is written
    plan = make_plan(volume.spatial_shape, params)
    output = storage.join(params.predictions, "labels", params.name)
    storage.check_reachable(output)
    dtype = np.dtype(params.dtype)
    log.info("decoding %s with %s in %d blocks of %s (halo %s)", volume.shape, mode, len(plan), plan.block, plan.halo)

    def labels() -> Any:
        return ome.open_labels(params.predictions, params.name, mode="r+").array

    def prepare() -> None:
        state.clear(output)
        provenance = {"stage": "decode", "inputs": {"predictions": volume.url}, "mode": mode,
                      "params": params.model_dump(exclude={"predictions", "name"})}
        ome.create_labels(params.predictions, params.name, dtype, chunks=chunks(plan), provenance=provenance)

    def process(block_id: int) -> dict[str, Any]:
        core, faces = decode_block(_Reader(volume), plan, block_id, decoder)
        core[core != 0] -= np.uint64(block_id * plan.id_stride)
        labels()[plan.core(block_id)] = core.astype(dtype)
        state.save_faces(output, faces)
        return {"instances": int(faces.ids.size)}

    def finalise() -> dict[str, Any]:
        table = merge_loaded(plan, range(len(plan)), partial(state.load_faces, output))
        count = int(table.target.max())
        if count > np.iinfo(dtype).max:
            raise UserError(f"{count} instances do not fit {dtype}", "set decode.dtype=uint64 and rerun")
        array, done = labels(), state.relabelled(output)
        for block_id in progress([k for k in range(len(plan)) if k not in done], desc="relabel"):
            box = plan.core(block_id)
            ids = np.asarray(array[box]).astype(np.uint64)
            ids[ids != 0] += np.uint64(block_id * plan.id_stride)
            array[box] = table.apply(ids).astype(dtype)
            state.mark_relabelled(output, block_id)
        log.info("%d instances in %s", count, output)
        return {"stage": "decode", "mode": mode, "instances": count}

    job = blockwise.BlockwiseJob(output, len(plan), prepare, process, finalise)
    blockwise.run(job, args, bool(args.overwrite))


def main(argv: Sequence[str]) -> None:
    params, args = parse(argv)
    run(params, args)


if __name__ == "__main__":
    sys.exit(stagekit.run_stage(main))
