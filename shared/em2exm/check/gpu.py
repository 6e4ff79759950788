"""A GPU is visible where a step asks for one, and torch sees CUDA (torch is asked only where a device is).

A step asks for a GPU through ``resources.<stage>.gpu`` (Argo and SLURM place it on a GPU node) or through its
``device: cuda`` option (ccgan, transfer, infer).  ``local`` is how ``em2exm run`` uses this machine: ``device:
cuda`` without CUDA is a problem, a GPU step that would fall back to the CPU a warning.  ``require`` is the
backends' check on the GPU node: every GPU step needs CUDA there.  ``skip``: the backends' first check, whose
node has no GPU (a check on the GPU node follows).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from typing import Literal

from em2exm.check.report import Report
from em2exm.pipeline import Step
from em2exm.pipeline_config import PipelineConfig

GpuMode = Literal["local", "skip", "require"]
GPU_MODES: tuple[str, ...] = ("local", "skip", "require")


def device_option(step: Step, config: PipelineConfig) -> str:
    """The ``device`` option a step runs with (``auto`` for stages without one)."""
    return {"ccgan-train": config.ccgan.device, "ccgan-transfer": config.transfer.device,
            "seg-infer": config.infer.device}.get(step.stage, "auto")


def cuda_devices() -> tuple[list[str], str]:
    """Names of the CUDA GPUs torch sees here, or none and why."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return [], f"CUDA_VISIBLE_DEVICES={visible!r} hides every GPU"
    if not glob.glob("/dev/nvidia[0-9]*") and not os.path.isdir("/proc/driver/nvidia"):
        return [], "no NVIDIA GPU device here (/dev/nvidia*)"
    import torch

    if not torch.cuda.is_available():
        return [], f"torch {torch.__version__} sees no CUDA GPU (built for CUDA {torch.version.cuda or 'none: a CPU build'})"
    return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())], ""


def check_gpu(report: Report, steps: Sequence[Step], config: PipelineConfig, mode: GpuMode) -> None:
    """Report the GPU steps against the GPUs of this machine, as ``mode`` says."""
    if mode == "skip":
        return
    wanting = [s for s in steps if s.resources.gpu > 0 or device_option(s, config) == "cuda"]
    if not wanting:
        report.ok("gpu", "no step asks for a GPU")
        return
    devices, why = cuda_devices()
    most = max(s.resources.gpu for s in wanting)
    if devices and len(devices) >= most:
        report.ok("gpu", f"torch sees {len(devices)} CUDA GPU(s) ({', '.join(sorted(set(devices)))}) for "
                         f"{_names(wanting)}")
        return
    if devices:  # locally a stage uses one GPU; on a GPU node the job was given what it asked for
        (report.fail if mode == "require" else report.warn)(
            "gpu", f"a step asks for {most} GPUs but torch sees {len(devices)} -- fix: lower resources.<stage>.gpu or "
                   "run on a node with more GPUs")
        return
    strict = wanting if mode == "require" else [s for s in wanting if device_option(s, config) == "cuda"]
    by_reason: dict[str, list[Step]] = {}
    for step in strict:
        asked = "device: cuda" if device_option(step, config) == "cuda" else f"resources gpu: {step.resources.gpu}"
        by_reason.setdefault(asked, []).append(step)
    for asked, found in by_reason.items():
        instead = "set their device to auto" if asked == "device: cuda" else "set resources.<stage>.gpu: 0"
        report.fail("gpu", f"{_names(found)} ask for a GPU ({asked}) but {why} -- fix: run them where CUDA is "
                           f"visible (a GPU node, singularity --nv, a CUDA build of torch), or {instead}")
    relaxed = [s for s in wanting if s not in strict]
    if relaxed:
        report.warn("gpu", f"{why}: {len(relaxed)} GPU step(s) ({_names(relaxed)}) run on the CPU here, slowly")


def _names(steps: Sequence[Step]) -> str:
    return ", ".join(s.name for s in steps[:4]) + (", ..." if len(steps) > 4 else "")
