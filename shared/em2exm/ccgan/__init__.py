"""CCGAN: 2D/3D CycleGAN (EM -> ExM) whose generators can also predict segmentation (CySGAN-style).

Modules: ``config`` (training and transfer options), ``layers``/``conv``/``resnet``/``patchgan``/``unet3d``/
``heads`` (networks), ``networks`` (building, reference checkpoints), ``losses``, ``pool``, ``schedule``,
``targets``, ``sampler`` (training patches), ``trainer`` (one iteration, resumable state), ``checkpoint``
(bytes IO), ``outputs`` (the ccgan-train folder: atomic writes, loss log, TensorBoard), ``samples`` (PNG grids),
``translate`` (whole volumes, blockwise).
"""

from em2exm.ccgan.checkpoint import (
    checkpoint_bytes,
    generator_from_checkpoint,
    load_checkpoint,
    reference_generator,
    save_checkpoint,
    trainer_from_checkpoint,
)
from em2exm.ccgan.config import CCGANConfig, TransferOptions
from em2exm.ccgan.sampler import PatchSampler
from em2exm.ccgan.samples import sample_png, sample_rows
from em2exm.ccgan.trainer import CCGANTrainer
from em2exm.ccgan.translate import Translator, array_reader, array_writer, block_boxes, translate_volume

__all__ = [
    "CCGANConfig",
    "CCGANTrainer",
    "PatchSampler",
    "TransferOptions",
    "Translator",
    "array_reader",
    "array_writer",
    "block_boxes",
    "checkpoint_bytes",
    "generator_from_checkpoint",
    "load_checkpoint",
    "reference_generator",
    "sample_png",
    "sample_rows",
    "save_checkpoint",
    "trainer_from_checkpoint",
    "translate_volume",
]
