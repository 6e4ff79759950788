"""Rough memory estimates per step from its block, window, patch and batch sizes, checked against the step's
``resources``, and a rough upper bound of what a run writes.

The estimates are upper bounds of the arrays a stage holds at once, in bytes per voxel of the box it works on
(a block is never larger than the volume), plus the interpreter and, for torch stages, torch and its model.
seg-infer's 25 bytes per block voxel and simulate-exm's 30 per label voxel under a block and its halo are the
figures their options document; the others follow from the dtypes each stage keeps (uint8 maps, float32 working
copies, uint32/uint64 ids).  They are meant to catch a block ten times too large, not to size a pod exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from em2exm.check.inputs import Volumes
from em2exm.check.report import Report
from em2exm.pipeline import Step
from em2exm.pipeline_config import PipelineConfig

GIB = 2**30
PYTHON = int(0.4 * GIB)
"""The interpreter with numpy, zarr, numba and the stage's imports."""
TORCH = int(1.2 * GIB)
"""PYTHON plus torch, a model and the allocator's pools."""
FIRST_FILTERS = {"pytc": 28, "light": 16}
"""Filters of the U-Net's first level per seg preset."""
IN_MEMORY = 3 * GIB
"""seg-train keeps volumes up to 1 GiB each in memory (image, labels, targets)."""


@dataclass(frozen=True)
class Need:
    """A step's estimated peak memory, what drives it and how to lower it."""

    bytes: float
    driver: str
    fix: str


Estimator = Callable[[Step, PipelineConfig, Volumes], Need]


def _voxels(shape: Sequence[int] | None) -> int:
    return math.prod(int(s) for s in shape) if shape else 0


def _box(block: Sequence[int], volumes: Volumes, grow: Sequence[int] = (0, 0, 0)) -> int:
    """Voxels of ``block`` grown by ``grow`` per side, at most the largest volume."""
    largest = volumes.largest()
    sizes = [b + 2 * g for b, g in zip(block[-3:], grow)]
    return _voxels([min(s, n) for s, n in zip(sizes, largest)] if largest else sizes)


def _blockwise(section: str, block: Sequence[int], per_voxel: float, volumes: Volumes, base: int = PYTHON,
               grow: Sequence[int] = (0, 0, 0), extra: float = 0) -> Need:
    halo = f" + {list(grow)} per side" if any(grow) else ""
    return Need(base + _box(block, volumes, grow) * per_voxel + extra, f"{section}.block {list(block)}{halo}",
                f"set {section}.block smaller")


def _whole(volumes: Volumes, per_voxel: float, base: int = PYTHON) -> Need:
    return Need(base + _voxels(volumes.largest()) * per_voxel, f"the whole volume {volumes.largest()}",
                "crop the inputs (ingest.crop)")


def _ingest(step: Step, config: PipelineConfig, volumes: Volumes) -> Need:
    source, target = (volumes.em_source, volumes.em) if step.name == "ingest-em" else (volumes.exm_source, volumes.exm)
    read = _voxels(source.shape) if source else 0
    labels = read * 12 if "--labels" in step.args else 0
    need = PYTHON + read * ((source.itemsize if source else 1) + 8) + labels + _voxels(target) * 10
    return Need(need, f"the whole input {source.shape if source else '?'}", "crop the input (ingest.crop)")


def _seg_train(step: Step, config: PipelineConfig, volumes: Volumes) -> Need:
    seg = config.seg
    activations = seg.batch * _voxels(seg.patch) * FIRST_FILTERS[seg.preset] * 4 * 40
    volume = min(_voxels(volumes.largest()) * 12, IN_MEMORY)
    return Need(TORCH + volume + activations, f"seg.patch {list(seg.patch)} x seg.batch {seg.batch} ({seg.preset})",
                "set seg.patch or seg.batch smaller")


def _seg_infer(step: Step, config: PipelineConfig, volumes: Volumes) -> Need:
    infer, window = config.infer, config.infer.window or config.seg.patch
    activations = infer.batch_size * _voxels(window) * FIRST_FILTERS[config.seg.preset] * 4 * 10
    return _blockwise("infer", infer.block, 25, volumes, TORCH, [w // 2 for w in window], activations)


def _ccgan_train(step: Step, config: PipelineConfig, volumes: Volumes) -> Need:
    ccgan = config.ccgan
    activations = ccgan.batch_size * _voxels(ccgan.patch_shape) * ccgan.ngf * 4 * 200
    return Need(TORCH + activations, f"ccgan.patch {list(ccgan.patch_shape)} x batch_size {ccgan.batch_size} x ngf {ccgan.ngf}",
                "set ccgan.patch, ccgan.batch_size or ccgan.ngf smaller")


def _ccgan_transfer(step: Step, config: PipelineConfig, volumes: Volumes) -> Need:
    transfer, window = config.transfer, config.transfer.patch or config.ccgan.patch_shape
    activations = transfer.batch_size * _voxels(window) * config.ccgan.ngf * 4 * 30
    return _blockwise("transfer", transfer.block, 40, volumes, TORCH, extra=activations)


def _visualize(step: Step, config: PipelineConfig, volumes: Volumes) -> Need:
    largest = volumes.largest()
    return Need(TORCH + (_voxels(largest[1:]) * 64 if largest else 0), "one z slice per preview", "")


ESTIMATORS: dict[str, Estimator] = {
    "ingest": _ingest,
    "simulate-exm": lambda step, config, v: _blockwise("simulate", config.simulate.block, 60, v),
    "match-intensity": lambda step, config, v: _blockwise("match", config.match.block, 40, v),
    "ccgan-train": _ccgan_train,
    "ccgan-transfer": _ccgan_transfer,
    "build-dataset": lambda step, config, v: _whole(v, 12),
    "seg-train": _seg_train,
    "seg-infer": _seg_infer,
    "decode": lambda step, config, v: _blockwise("decode", config.decode.block, 31, v, grow=(1, 1, 1)),
    "evaluate": lambda step, config, v: _blockwise("evaluate", config.evaluate.block, 48, v),
    "visualize": _visualize,
}
"""Estimated peak memory of a step, per stage."""


def estimate(step: Step, config: PipelineConfig, volumes: Volumes) -> Need:
    """Estimated peak memory of ``step``."""
    return ESTIMATORS[step.stage](step, config, volumes)


def check_memory(report: Report, steps: Sequence[Step], config: PipelineConfig, volumes: Volumes) -> None:
    """A problem per stage whose steps' estimate exceeds their ``resources`` memory; one line for the rest."""
    over: dict[str, list[tuple[Step, Need]]] = {}
    fits = []
    for step in steps:
        need = estimate(step, config, volumes)
        if need.bytes > step.resources.memory_gib * GIB:
            over.setdefault(step.stage, []).append((step, need))
        else:
            fits.append((need.bytes / (step.resources.memory_gib * GIB), need, step))
    for stage, found in over.items():
        step, need = max(found, key=lambda item: item[1].bytes)
        names = ", ".join(s.name for s, _ in found)
        report.fail("memory", f"{names}: ~{need.bytes / GIB:.1f} GiB for {need.driver}, more than resources "
                              f"{step.resources.memory_gib:g} GiB -- fix: {need.fix + ', or ' if need.fix else ''}"
                              f"set resources.{stage}.memory_gib to at least {math.ceil(need.bytes / GIB)}")
    if fits:
        _, need, step = max(fits, key=lambda item: item[0])
        report.ok("memory", f"{len(fits)} step(s) fit their resources; the tightest: {step.name} ~{need.bytes / GIB:.1f} "
                            f"of {step.resources.memory_gib:g} GiB ({need.driver})")


def written_bytes(steps: Sequence[Step], volumes: Volumes) -> int | None:
    """A rough upper bound of what ``steps`` write, uncompressed (None when the volumes are unknown)."""
    if volumes.largest() is None:
        return None
    em, exm, largest = _voxels(volumes.em), _voxels(volumes.exm), _voxels(volumes.largest())
    per_stage = {"ingest": largest * 5, "simulate-exm": exm * 5, "match-intensity": largest * 5,
                 "ccgan-transfer": largest * 5, "build-dataset": largest * 5, "seg-infer": exm * 3, "decode": exm * 12,
                 "ccgan-train": GIB // 4, "seg-train": GIB // 4, "evaluate": 2**20, "visualize": 50 * 2**20}
    return sum(per_stage[step.stage] if step.name != "ingest-em" else em * 5 for step in steps)
