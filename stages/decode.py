"""decode: network maps (uint8 C,Z,Y,X OME-Zarr from seg-infer) -> instance labels, blockwise with stitching.

Writes ``<predictions>/labels/<name>``. Each block is decoded with the little context it needs; its block-local ids
are staged in ``<labels>/.em2exm_local_ids`` and its stitching arrays stored under ``<labels>/.faces/``; finalise
stitches objects of any size across blocks (the whole-volume decode's ids, see em2exm.decode.stitch) and writes every
block's final ids 1..N into the label image (never rewriting in place). ``--plan-blocks``, ``--blocks`` and
``--finalise`` run those phases as separate tasks (see em2exm.blockwise).
"""

from __future__ import annotations

import itertools
import logging
import sys
from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np
import zarr
from em2exm import blockwise, faults, ome, stagekit, storage
from em2exm.decode import BlockPlan, decode_block, merge_loaded, plan_for
from em2exm.decode import store as state
from em2exm.decode.options import DecodeOptions
from em2exm.decode.specs import Spec
from em2exm.errors import UserError
from em2exm.progress import progress
from pydantic import Field

log = logging.getLogger("em2exm.decode")
STAGING = ".em2exm_local_ids"


class DecodeParams(DecodeOptions):
    """The decode options plus this run's input and label name."""

    predictions: str = Field(description="OME-Zarr image of uint8 maps (c, z, y, x) written by seg-infer")
    name: str = Field("instances", pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$",
                      description="name of the label image written to <predictions>/labels/<name>")


def parse(argv: Sequence[str]) -> tuple[DecodeParams, Any]:
    """Options and the parsed flags (for --overwrite and the blockwise phases)."""
    parser = stagekit.make_parser("decode", __doc__.splitlines()[0], DecodeParams, "decode")
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


def make_plan(shape: tuple[int, int, int], params: DecodeParams, spec: Spec) -> BlockPlan:
    """Blocks no larger than the volume, with the halo the decoder needs; local ids must fit the label dtype."""
    plan = plan_for(shape, tuple(min(b, s) for b, s in zip(params.block, shape)), spec)  # type: ignore[arg-type]
    if plan.id_stride >= np.iinfo(params.dtype).max:  # the largest value marks unwritten staging
        raise UserError(f"blocks of {plan.block} are too large for {params.dtype} ids",
                        "use smaller blocks or set decode.dtype=uint64")
    return plan


def chunks(plan: BlockPlan) -> tuple[int, int, int]:
    """Label chunks that tile every block, so blocks written in parallel never share a chunk."""
    return tuple(min(64 if b % 64 == 0 else b, s) for b, s in zip(plan.block, plan.shape))  # type: ignore[return-value]


def run(params: DecodeParams, args: Any) -> None:
    """Check the input, then run the blockwise phases the flags ask for."""
    volume = open_predictions(params.predictions, params.float_scale)
    names, channels = volume.attrs.get("channels"), volume.shape[0]
    if names and len(names) != channels:
        raise UserError(f"the predictions name {len(names)} channels {names} but have {channels}",
                        "rewrite them with seg-infer")
    mode = params.resolve_mode(channels, names)
    spec = params.spec(mode)  # checks every option before anything is written
    spec.maps(np.zeros((channels, 1, 1, 1), volume.array.dtype))
    plan = make_plan(volume.spatial_shape, params, spec)
    output = storage.join(params.predictions, "labels", params.name)
    log.info("decoding %s with %s in %d blocks of %s", volume.shape, mode, len(plan), plan.block)
    phases = DecodePhases(params, volume, plan, spec, mode, output)
    job = blockwise.BlockwiseJob(
        "decode", output, params, {"predictions": storage.join(params.predictions, "0")}, ("zarr.json", "0", state.FACES),
        len(plan), phases.prepare, phases.process, phases.finalise,
        plan={"shape": list(volume.shape), "dtype": str(volume.array.dtype), "mode": mode},
    )
    blockwise.run(job, args)


class DecodePhases:
    """Decode's three blockwise phases.  Blocks write block-local ids to a staging array; finalise reads them
    from there and writes final ids to the label image, so finalise can be killed and rerun (or run twice at
    once) at any instant and always writes the same bytes."""

    def __init__(self, params: DecodeParams, volume: ome.Volume, plan: BlockPlan, spec: Spec, mode: str,
                 output: str) -> None:
        self.params, self.volume, self.plan, self.spec, self.mode = params, volume, plan, spec, mode
        self.output, self.dtype = output, np.dtype(params.dtype)
        self.chunks = chunks(plan)

    def labels(self) -> Any:
        return ome.open_labels(self.params.predictions, self.params.name, mode="r+").array

    def staging(self, mode: str = "r+") -> Any:
        """Block-local ids of every processed block (missing chunks read as ``UNWRITTEN``)."""
        store = storage.zarr_store(storage.join(self.output, STAGING), read_only=mode == "r")
        if mode == "w":
            return zarr.create_array(store, shape=self.plan.shape, dtype=self.dtype, chunks=self.chunks,
                                     fill_value=np.iinfo(self.dtype).max, overwrite=True)
        return zarr.open_array(store, mode=mode)

    def prepare(self) -> None:
        provenance = {"stage": "decode", "inputs": {"predictions": self.volume.url}, "mode": self.mode,
                      "params": self.params.model_dump(exclude={"predictions", "name"})}
        ome.create_labels(self.params.predictions, self.params.name, self.dtype, chunks=self.chunks,
                          provenance=provenance)
        self.staging("w")

    def process(self, block_id: int) -> dict[str, Any]:
        maps = ome.Regions(self.volume, "the predictions are corrupt: rerun seg-infer")
        local, data = decode_block(maps, self.plan, block_id, self.spec)
        self.staging()[self.plan.core(block_id)] = local.astype(self.dtype)
        state.save_block(self.output, data)
        return {"fragments": int(local.max(initial=0))}

    def finalise(self) -> dict[str, Any]:
        table = merge_loaded(self.plan, self.spec, range(len(self.plan)), partial(state.load_block, self.output))
        count = table.count
        if count > np.iinfo(self.dtype).max:
            raise UserError(f"{count} instances do not fit {self.dtype}", "set decode.dtype=uint64 and rerun")
        final, local, done = self.labels(), self.staging("r"), state.relabelled(self.output)
        for block_id in progress([k for k in range(len(self.plan)) if k not in done], desc="relabel"):
            core = self.plan.core(block_id)
            ids = np.asarray(local[core])
            if (ids == np.iinfo(self.dtype).max).any():
                raise UserError(f"block {block_id} of {self.output} has no staged ids", "rerun decode with --overwrite")
            labels = table.block(block_id, ids).astype(self.dtype)
            for box in chunk_boxes(core, self.chunks):
                final[box] = labels[tuple(slice(b.start - c.start, b.stop - c.start) for b, c in zip(box, core))]
                faults.point("decode.finalise.chunk")
            state.mark_relabelled(self.output, block_id)
            faults.point("decode.finalise.block")
        log.info("%d instances in %s", count, self.output)
        return {"stage": "decode", "mode": self.mode, "instances": count}


def chunk_boxes(box: tuple[slice, ...], chunk: Sequence[int]) -> list[tuple[slice, ...]]:
    """The chunk-aligned pieces of ``box`` (a block core), one storage object each."""
    ranges = [range(s.start, s.stop, c) for s, c in zip(box, chunk)]
    return [tuple(slice(a, min(a + c, s.stop)) for a, c, s in zip(corner, chunk, box))
            for corner in itertools.product(*ranges)]


def main(argv: Sequence[str]) -> None:
    params, args = parse(argv)
    run(params, args)


if __name__ == "__main__":
    sys.exit(stagekit.run_stage(main))
