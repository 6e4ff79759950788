"""Checkpoints as bytes through any binary file-like (local file, object store), read with ``weights_only=True``."""

from __future__ import annotations

from typing import Any, BinaryIO

import torch
from pydantic import ValidationError

from em2exm.ccgan.config import CCGANConfig
from em2exm.ccgan.heads import Generator
from em2exm.ccgan.networks import build_generator, load_reference_generator
from em2exm.ccgan.trainer import FORMAT, CCGANTrainer
from em2exm.checkpoints import checkpoint_bytes, load_weights, read_checkpoint, save_checkpoint
from em2exm.errors import UserError, one_line

__all__ = [
    "checkpoint_bytes", "checkpoint_config", "generator_from_checkpoint", "load_checkpoint", "reference_generator",
    "save_checkpoint", "trainer_from_checkpoint",
]

_FIX = "point to a checkpoint written by em2exm ccgan-train"


def load_checkpoint(source: bytes | BinaryIO) -> dict[str, Any]:
    """Read a trainer checkpoint safely (tensors and plain values only) onto the CPU."""
    state = read_checkpoint(source, _FIX)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise UserError("file is not an em2exm CCGAN checkpoint", _FIX)
    if not isinstance(state.get("nets"), dict):
        raise UserError("the CCGAN checkpoint has no 'nets' mapping of network weights", _FIX)
    return state


def checkpoint_config(state: dict[str, Any]) -> CCGANConfig:
    """The training config stored in a checkpoint."""
    try:
        return CCGANConfig.model_validate(state.get("config"))
    except ValidationError as err:
        raise UserError(f"checkpoint config is invalid: {one_line(err)}", "retrain with this version of em2exm") from err


def trainer_from_checkpoint(state: dict[str, Any], device: str | torch.device | None = None) -> CCGANTrainer:
    """Resume training from a loaded checkpoint."""
    trainer = CCGANTrainer(checkpoint_config(state), device)
    trainer.load_state_dict(state)
    return trainer


def generator_from_checkpoint(
    state: dict[str, Any], which: str = "G_A", device: str | torch.device = "cpu"
) -> Generator:
    """One trained generator in eval mode (G_A: EM -> ExM; G_B: ExM -> EM, its head segments ExM)."""
    if which not in ("G_A", "G_B"):
        raise ValueError("which must be 'G_A' or 'G_B'")
    generator = build_generator(checkpoint_config(state))
    load_weights(generator, state["nets"].get(which), _FIX)
    return generator.to(device).eval()


def reference_generator(source: bytes | BinaryIO, config: CCGANConfig, device: str | torch.device = "cpu") -> Generator:
    """A generator from a pytorch-CycleGAN-and-pix2pix ``latest_net_G_*.pth`` (eval mode; no seg head is stored)."""
    state = read_checkpoint(source, "pass a latest_net_G_A.pth file")
    if not isinstance(state, dict):
        raise UserError("reference checkpoint is not a state dict", "pass a latest_net_G_A.pth file")
    generator = build_generator(config)
    load_reference_generator(generator, state)
    return generator.to(device).eval()
