"""Checkpoints as bytes: a plain dict of tensors and JSON-able values, loaded with ``weights_only=True``."""

from __future__ import annotations

from typing import Any, BinaryIO

from pydantic import ValidationError

from em2exm.checkpoints import checkpoint_bytes, load_weights, read_checkpoint, save_checkpoint
from em2exm.errors import UserError, one_line
from em2exm.seg.config import SegTrainConfig
from em2exm.seg.heads import out_channels
from em2exm.seg.unet import UNet3D, build_unet

__all__ = ["build_model", "checkpoint_bytes", "load_checkpoint", "model_from_checkpoint", "save_checkpoint"]


def build_model(config: SegTrainConfig) -> UNet3D:
    """The U-Net a training config describes (one output channel per target map)."""
    return build_unet(config.preset, out_channels(config.target), norm=config.norm)


_FIX = "point to a file written by the seg trainer"


def load_checkpoint(source: bytes | BinaryIO) -> dict[str, Any]:
    """Read a checkpoint safely (tensors and plain values only) onto the CPU."""
    state = read_checkpoint(source, _FIX)
    if not isinstance(state, dict) or not {"config", "model"} <= state.keys():
        raise UserError("checkpoint lacks 'config' or 'model'", _FIX)
    return state


def model_from_checkpoint(state: dict[str, Any]) -> tuple[UNet3D, SegTrainConfig]:
    """Rebuild the trained model (eval mode) and its config from a loaded checkpoint."""
    try:
        config = SegTrainConfig.model_validate(state["config"])
    except ValidationError as err:
        raise UserError(f"checkpoint config is invalid: {one_line(err)}", "retrain with this version of em2exm") from err
    model = build_model(config)
    load_weights(model, state["model"], _FIX)
    return model.eval(), config
