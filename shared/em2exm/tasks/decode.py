"""decode: network maps (uint8 C,Z,Y,X OME-Zarr from seg-infer) -> instance labels, blockwise with stitching.

Writes ``<predictions>/labels/<name>``. Each block is decoded with the little context it needs; its block-local ids
are staged in ``<labels>/.em2exm_local_ids`` and its stitching arrays stored under ``<labels>/.faces/``. Then four
passes (em2exm.decode.passes) stitch objects of any size across blocks to the whole-volume decode's ids: the merge
(serial: seeds), the flood (fanned out, in rounds that ``--settle`` closes until no face value changes: each block's
open voxels), the number (serial: the final ids 1..N) and the apply (fanned out: every block's final ids written
into the label image, never rewriting in place). ``--plan-blocks``, ``--blocks``, ``--merge``, ``--flood``,
``--settle``, ``--number``, ``--apply`` and ``--finalise`` run those phases as separate tasks (see em2exm.blockwise).
"""

from __future__ import annotations

import logging
from functools import cached_property
from typing import Any

import numpy as np
import zarr

from em2exm import blockwise, commit, faults, ome, storage
from em2exm.decode import BlockPlan, apply_block, decode_block, flood_pass, merge_pass, number_pass, plan_for
from em2exm.decode.relax import FLOOD, settled
from em2exm.decode.specs import Spec
from em2exm.decode.store import FACES, StoreState
from em2exm.errors import UserError
from em2exm.invocation import Invocation
from em2exm.specs.decode import DecodeParams
from em2exm.tiling import chunks_for, tile

log = logging.getLogger("em2exm.decode")

STAGING = ".em2exm_local_ids"


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
    plan = plan_for(shape, tuple(min(b, s) for b, s in zip(params.block, shape)), spec)
    if plan.id_stride >= np.iinfo(params.dtype).max:  # the largest value marks unwritten staging
        raise UserError(f"blocks of {plan.block} are too large for {params.dtype} ids",
                        "use smaller blocks or set decode.dtype=uint64")
    return plan


def run(params: DecodeParams, how: Invocation = Invocation()) -> None:
    """Check the input, then run the blockwise phases ``how`` asks for (all of them by default)."""
    volume = open_predictions(params.predictions, params.float_scale)
    names, channels = volume.attrs.get("channels"), volume.shape[0]
    if names and len(names) != channels:
        raise UserError(f"the predictions name {len(names)} channels {names} but have {channels}",
                        "rewrite them with seg-infer")
    mode = params.resolve_mode(channels, names)
    spec = params.spec(mode)  # checks every option before anything is written
    spec.maps(np.zeros((channels, 1, 1, 1), volume.array.dtype))
    plan = make_plan(volume.spatial_shape, params, spec)
    output = params.labels
    log.info("decoding %s with %s in %d blocks of %s", volume.shape, mode, len(plan), plan.block)
    phases = DecodePhases(params, volume, plan, spec, mode, output)
    job = blockwise.BlockwiseJob(
        "decode", output, params, {"predictions": storage.join(params.predictions, "0")}, ("zarr.json", "0", FACES),
        len(plan), phases.prepare, phases.process, phases.finalise,
        plan={"shape": list(volume.shape), "dtype": str(volume.array.dtype), "mode": mode},
        passes=[blockwise.JobPass("merge", serial=phases.merge),
                blockwise.JobPass(FLOOD, per_task=phases.flood),
                blockwise.JobPass("settle", serial=phases.settle, settles=FLOOD),
                blockwise.JobPass("number", serial=phases.number),
                blockwise.JobPass("apply", per_block=phases.apply)],
        order=plan.compact_order(),
    )
    blockwise.run(job, how)


class DecodePhases:
    """Decode's blockwise phases.  Blocks write block-local ids to a staging array; the passes write their parts
    (:class:`StoreState`); the apply reads the staging array and the parts and writes final ids to the label image, so
    every phase can be killed and rerun (or run twice at once) at any instant and always writes the same bytes."""

    def __init__(self, params: DecodeParams, volume: ome.Volume, plan: BlockPlan, spec: Spec, mode: str,
                 output: str) -> None:
        self.params, self.volume, self.plan, self.spec, self.mode = params, volume, plan, spec, mode
        self.output, self.dtype = output, np.dtype(params.dtype)
        self.chunks = chunks_for(plan.block, plan.shape)
        self.state = StoreState(output)

    @cached_property
    def final_labels(self) -> Any:
        """The label image, opened once per task for the second pass."""
        return self.labels()

    @cached_property
    def staged_ids(self) -> Any:
        """The staging array, opened once per task for the second pass (after every block wrote it)."""
        return self.staging("r")

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
        self.state.save_block(data)
        return {"fragments": int(local.max(initial=0))}

    def merge(self) -> dict[str, Any]:
        """Join seed pieces across faces into seeds; store each block's merge part."""
        return merge_pass(self.plan, self.spec, range(len(self.plan)), self.state)

    def flood(self, block_ids: list[int], round_index: int) -> dict[int, dict[str, Any]]:
        """Round ``round_index`` of the flood of a task's ``block_ids``; each one's record holds the keys of its
        faces and the neighbours' face keys it read."""
        folder = commit.pass_folder(FLOOD, round_index - 1)
        return flood_pass(self.plan, self.state, block_ids, round_index,
                          lambda k: commit.read_block_info(self.output, k, folder))

    def settle(self, round_index: int) -> dict[str, Any] | None:
        """None when round ``round_index`` left a block stale (another round follows), else the flood's record."""
        folder = commit.pass_folder(FLOOD, round_index)
        if not settled({k: commit.read_block_info(self.output, k, folder) for k in range(len(self.plan))}):
            log.info("flood round %d left blocks stale: another round follows", round_index)
            return None
        log.info("the flood settled after %d rounds", round_index + 1)
        return {"flood_rounds": round_index + 1}

    @cached_property
    def rounds(self) -> int:
        """The flood's rounds (once it has settled)."""
        return int((commit.read_pass(self.output, "settle") or {})["flood_rounds"])

    def number(self) -> dict[str, Any]:
        """Number the instances; store each block's table of final ids."""
        count = number_pass(self.spec, range(len(self.plan)), self.state, self.rounds, np.iinfo(self.dtype).max)
        log.info("%d instances in %s", count, self.output)
        return {"instances": count}

    def apply(self, block_id: int) -> None:
        """Write block ``block_id``'s final ids into the label image, one storage chunk at a time."""
        core = self.plan.core(block_id)
        ids = np.asarray(self.staged_ids[core])
        if (ids == np.iinfo(self.dtype).max).any():
            raise UserError(f"block {block_id} of {self.output} has no staged ids", "rerun decode with --overwrite")
        labels = apply_block(self.state, block_id, ids, self.rounds).astype(self.dtype, copy=False)
        final = self.final_labels
        for box in tile(core, self.chunks):  # one storage object each
            final[box] = labels[tuple(slice(b.start - c.start, b.stop - c.start) for b, c in zip(box, core))]
            faults.point("decode.apply.chunk")

    def finalise(self) -> dict[str, Any]:
        """Remove the flood's rounds, parts and markers (the labels are written; how many rounds there were depends
        on how tasks grouped the blocks, so a fan-out and one process leave the same files)."""
        for folder in (storage.join(self.output, FACES), storage.join(self.output, commit.PASS_MARKERS)):
            for name in storage.list_names(folder):
                if name.startswith(f"{FLOOD}."):
                    storage.remove(storage.join(folder, name))
        return {"stage": "decode", "mode": self.mode}
