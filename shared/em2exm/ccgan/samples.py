"""A PNG sample grid of the last iteration: real / fake / reconstruction / predicted segmentation / labels."""

from __future__ import annotations

import io

import numpy as np
import torch

from em2exm.ccgan.heads import activate

ROW_A = ("real_A", "fake_B", "rec_A", "seg_syn_A", "label_A")  # EM, its ExM rendering, back, G_A's seg, truth
ROW_B = ("real_B", "fake_A", "rec_B", "seg_syn_B")  # ExM, its EM rendering, back, G_B's seg of real ExM


def _tile(tensor: torch.Tensor, index: int, is_seg: bool, seg_target: str) -> np.ndarray:
    """One (H, W) float tile in [0, 1]: first channel, middle z-slice for 3D."""
    item = tensor[index : index + 1].detach().float().cpu()
    if is_seg:
        item = activate(item, seg_target) if seg_target else item
    image = item[0, 0]
    if image.ndim == 3:
        image = image[image.shape[0] // 2]
    image = image.numpy()
    return image if is_seg else (image + 1) / 2


def sample_grid(visuals: dict[str, torch.Tensor], seg_target: str = "", max_items: int = 2) -> np.ndarray:
    """uint8 (H, W) grid: per batch item a row A (real_A, fake_B, rec_A[, seg_syn_A, label_A]) and a row B."""
    columns = [name for name in ROW_A if name in visuals]
    rows = []
    for i in range(min(max_items, visuals["real_A"].shape[0])):
        row_a = [_tile(visuals[k], i, k.startswith("seg"), seg_target) for k in columns]
        row_b = [
            _tile(visuals[k], i, k.startswith("seg"), seg_target) if k in visuals else np.zeros_like(row_a[0])
            for k in ROW_B[: len(columns)]
        ]
        row_b += [np.zeros_like(row_a[0])] * (len(columns) - len(row_b))
        rows += [np.concatenate(row_a, axis=1), np.concatenate(row_b, axis=1)]
    grid = np.concatenate(rows, axis=0)
    return (np.clip(grid, 0, 1) * 255).round().astype(np.uint8)


def png_bytes(grid: np.ndarray) -> bytes:
    """A grayscale PNG of a uint8 (H, W) grid."""
    from matplotlib import image as mpimg

    buffer = io.BytesIO()
    mpimg.imsave(buffer, grid, cmap="gray", vmin=0, vmax=255, format="png")
    return buffer.getvalue()
