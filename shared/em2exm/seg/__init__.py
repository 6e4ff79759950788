"""Segmentation: B/C/D targets, a PyTC-style 3D residual U-Net, training, and blockwise inference.

Modules: ``targets`` (label -> maps), ``unet`` (model), ``heads`` (input/output conventions), ``losses``,
``augment``, ``sampler`` (patches from array-likes), ``config`` (``SegTrainConfig``, ``InferOptions``), ``trainer``,
``checkpoint`` (bytes in/out), ``window`` (grid, blending, reflect reads), ``predict`` (batched windows),
``blocks`` (block plans and ``infer_block``/``infer_volume``).
"""

from em2exm.seg.blocks import Block, BlockPlan, infer_block, infer_volume
from em2exm.seg.checkpoint import build_model, checkpoint_bytes, load_checkpoint, model_from_checkpoint, save_checkpoint
from em2exm.seg.config import AugmentConfig, InferOptions, SegTrainConfig
from em2exm.seg.predict import Predictor
from em2exm.seg.sampler import LabelledVolume
from em2exm.seg.targets import foreground, instance_contour, instance_distance, signed_distance, target_maps
from em2exm.seg.trainer import SegTrainer
from em2exm.seg.unet import UNet3D, build_unet
from em2exm.seg.window import SlidingWindow

__all__ = [
    "AugmentConfig",
    "Block",
    "BlockPlan",
    "InferOptions",
    "LabelledVolume",
    "Predictor",
    "SegTrainConfig",
    "SegTrainer",
    "SlidingWindow",
    "UNet3D",
    "build_model",
    "build_unet",
    "checkpoint_bytes",
    "foreground",
    "infer_block",
    "infer_volume",
    "instance_contour",
    "instance_distance",
    "load_checkpoint",
    "model_from_checkpoint",
    "save_checkpoint",
    "signed_distance",
    "target_maps",
]
