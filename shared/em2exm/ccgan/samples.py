"""A captioned PNG of the last iteration's samples: per item a row for each domain, columns named by what they show.

Row A: real EM, G_A(A) (EM rendered as ExM), G_B(G_A(A)) (back to EM)[, G_A's segmentation head on A, the EM labels].
Row B: real ExM, G_B(B) (ExM rendered as EM), G_A(G_B(B))[, G_B's segmentation head on real ExM (no labels)].
Tiles are drawn with nearest-neighbour upscaling, so small patches stay readable.
"""

from __future__ import annotations

import io

import numpy as np
import torch

from em2exm.ccgan.heads import activate

ROW_A = ("real_A", "fake_B", "rec_A", "seg_syn_A", "label_A")
ROW_B = ("real_B", "fake_A", "rec_B", "seg_syn_B")
TITLES = {
    "real_A": "real A (EM)", "fake_B": "G_A(A): as ExM", "rec_A": "G_B(G_A(A))", "seg_syn_A": "G_A head on A",
    "label_A": "EM labels", "real_B": "real B (ExM)", "fake_A": "G_B(B): as EM", "rec_B": "G_A(G_B(B))",
    "seg_syn_B": "G_B head on B",
}
TILE_INCHES = 1.9


def _tile(tensor: torch.Tensor, index: int, is_seg: bool, seg_target: str) -> np.ndarray:
    """One (H, W) float tile in [0, 1]: first channel, middle z-slice for 3D."""
    item = tensor[index : index + 1].detach().float().cpu()
    if is_seg:
        item = activate(item, seg_target) if seg_target else item
    image = item[0, 0]
    if image.ndim == 3:
        image = image[image.shape[0] // 2]
    pixels = image.numpy()
    return np.clip(pixels if is_seg else (pixels + 1) / 2, 0, 1)


def sample_rows(visuals: dict[str, torch.Tensor], seg_target: str = "", max_items: int = 2) -> list[list[tuple[str, np.ndarray]]]:
    """Rows of (title, tile in [0, 1]): for each of up to ``max_items`` batch items a row A and a row B."""
    rows = []
    for i in range(min(max_items, visuals["real_A"].shape[0])):
        for names in (ROW_A, ROW_B):
            rows.append([(TITLES[k], _tile(visuals[k], i, k.startswith("seg"), seg_target)) for k in names if k in visuals])
    return rows


def sample_png(visuals: dict[str, torch.Tensor], seg_target: str = "", max_items: int = 2) -> bytes:
    """The sample rows as one captioned PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    rows = sample_rows(visuals, seg_target, max_items)
    columns = max(len(row) for row in rows)
    fig, axes = plt.subplots(len(rows), columns, figsize=(TILE_INCHES * columns, TILE_INCHES * len(rows) + 0.3),
                             squeeze=False)
    for axes_row, row in zip(axes, rows):
        for ax in axes_row:
            ax.axis("off")
        for ax, (title, tile) in zip(axes_row, row):
            ax.imshow(tile, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_title(title, fontsize=9)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return buffer.getvalue()
