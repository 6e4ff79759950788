"""The compute device a stage runs on (imports torch: only training and inference code uses it)."""

from __future__ import annotations

import torch

from em2exm.errors import UserError


def resolve_device(name: str) -> torch.device:
    """``auto`` (CUDA when available), ``cpu`` or ``cuda``; asking for a missing GPU is a user error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("device 'cuda' was asked for but no CUDA GPU is available", "use device=auto or device=cpu")
    return torch.device(name)
