"""CCGAN: 2D/3D CycleGAN (EM -> ExM) whose generators can also predict segmentation (CySGAN-style).

Modules: ``config`` (options), ``layers``/``resnet``/``patchgan``/``unet3d``/``heads`` (networks),
``networks`` (building, reference checkpoints), ``losses``, ``pool``, ``schedule``, ``targets``,
``sampler`` (training patches), ``trainer`` (one iteration, resumable state), ``checkpoint`` (bytes IO),
``samples`` (PNG grids), ``translate`` (whole volumes, blockwise).
"""

from em2exm.ccgan.checkpoint import (
    checkpoint_bytes,
    generator_from_checkpoint,
    load_checkpoint,
    reference_generator,
    save_checkpoint,
    trainer_from_checkpoint,
)
from em2exm.ccgan.config import CCGANConfig
from em2exm.ccgan.sampler import PatchSampler
from em2exm.ccgan.samples import png_bytes, sample_grid
from em2exm.ccgan.trainer import CCGANTrainer
from em2exm.ccgan.translate import array_reader, array_writer, translate_volume

__all__ = [
    "CCGANConfig",
    "CCGANTrainer",
    "PatchSampler",
    "array_reader",
    "array_writer",
    "checkpoint_bytes",
    "generator_from_checkpoint",
    "load_checkpoint",
    "png_bytes",
    "reference_generator",
    "sample_grid",
    "save_checkpoint",
    "trainer_from_checkpoint",
    "translate_volume",
]
