"""Model input and output conventions: image normalisation and one output channel per target map."""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

Target = Literal["bc", "bcd"]
CHANNELS: dict[str, tuple[str, ...]] = {"bc": ("B", "C"), "bcd": ("B", "C", "D")}
MAP_NAMES = {"B": "foreground", "C": "contour", "D": "distance"}


def out_channels(target: Target) -> int:
    """Number of model output channels for a target kind."""
    return len(CHANNELS[target])


def channel_names(target: Target, distance: Literal["instance", "signed"] = "instance") -> list[str]:
    """Names of the output maps in channel order, e.g. ``["foreground", "contour", "distance"]``.

    A signed distance map is named ``"signed_distance"`` so decoders can tell it from the instance one.
    """
    names = [MAP_NAMES[c] for c in CHANNELS[target]]
    return [f"signed_{n}" if n == "distance" and distance == "signed" else n for n in names]


def unit_range(image: np.ndarray) -> np.ndarray:
    """float32 in [0, 1]: integers divided by their dtype's maximum, floats taken as already scaled."""
    image = np.asarray(image)
    if np.issubdtype(image.dtype, np.integer):
        return image.astype(np.float32) / np.float32(np.iinfo(image.dtype).max)
    return image.astype(np.float32, copy=False)


def normalize_image(image: np.ndarray) -> np.ndarray:
    """Model input: ``(unit_range(image) - 0.5) / 0.5`` as PyTC (mean 0.5, std 0.5)."""
    return (unit_range(image) - np.float32(0.5)) / np.float32(0.5)


def activate(logits: torch.Tensor, target: Target) -> torch.Tensor:
    """Map logits (N, C, ...) to [0, 1]: sigmoid for B and C, ``(tanh + 1) / 2`` for D."""
    probs = torch.sigmoid(logits)
    if "D" in CHANNELS[target]:
        d = CHANNELS[target].index("D")
        probs[:, d] = (torch.tanh(logits[:, d]) + 1) / 2
    return probs
