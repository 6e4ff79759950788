"""Checkpoints as bytes: a plain dict of tensors and JSON-able values, loaded with ``weights_only=True``."""

from __future__ import annotations

import io
import pickle
from typing import Any, BinaryIO

import torch
from pydantic import ValidationError

from em2exm.errors import UserError
from em2exm.seg.config import SegTrainConfig
from em2exm.seg.heads import out_channels
from em2exm.seg.unet import UNet3D, build_unet


def build_model(config: SegTrainConfig) -> UNet3D:
    """The U-Net a training config describes (one output channel per target map)."""
    return build_unet(config.preset, out_channels(config.target), norm=config.norm)


def save_checkpoint(state: dict[str, Any], f: BinaryIO) -> None:
    """Write a trainer ``state_dict()`` to a binary file-like."""
    torch.save(state, f)


def checkpoint_bytes(state: dict[str, Any]) -> bytes:
    """A trainer ``state_dict()`` serialised to bytes."""
    buffer = io.BytesIO()
    save_checkpoint(state, buffer)
    return buffer.getvalue()


def load_checkpoint(source: bytes | BinaryIO) -> dict[str, Any]:
    """Read a checkpoint safely (tensors and plain values only) onto the CPU."""
    f = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source
    try:
        state = torch.load(f, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as err:
        raise UserError(
            f"not a readable segmentation checkpoint ({err})", "point to a file written by the seg trainer"
        ) from err
    if not isinstance(state, dict) or not {"config", "model"} <= state.keys():
        raise UserError("checkpoint lacks 'config' or 'model'", "point to a file written by the seg trainer")
    return state


def model_from_checkpoint(state: dict[str, Any]) -> tuple[UNet3D, SegTrainConfig]:
    """Rebuild the trained model (eval mode) and its config from a loaded checkpoint."""
    try:
        config = SegTrainConfig.model_validate(state["config"])
    except ValidationError as err:
        raise UserError(f"checkpoint config is invalid: {err}", "retrain with this version of em2exm") from err
    model = build_model(config)
    model.load_state_dict(state["model"])
    return model.eval(), config
