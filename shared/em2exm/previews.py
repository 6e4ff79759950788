"""PNG pictures of a run: mid-slice panels of volumes, label overlays, loss curves."""

from __future__ import annotations

import json
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def label_colors(labels: np.ndarray, seed: int = 7) -> np.ndarray:
    """An RGBA image giving each instance id a stable random colour (background transparent)."""
    ids, inverse = np.unique(labels, return_inverse=True)
    palette = np.random.default_rng(seed).uniform(0.2, 1.0, (len(ids), 4))
    palette[:, 3] = 0.45
    palette[ids == 0] = 0
    return palette[inverse].reshape(*labels.shape, 4)


def panel_figure(panels: Sequence[tuple[str, np.ndarray, np.ndarray | None]], path: str) -> None:
    """Save one row of 2D panels (title, grey image, optional label overlay) as a PNG."""
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.4), squeeze=False)
    for ax, (title, image, labels) in zip(axes[0], panels):
        ax.imshow(image, cmap="gray", interpolation="nearest")
        if labels is not None:
            ax.imshow(label_colors(labels), interpolation="nearest")
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def read_loss_log(text: str) -> dict[str, tuple[list[int], list[float]]]:
    """Series per loss name from a JSON-lines log of ``{"iteration": i, "<name>": value, ...}``."""
    series: dict[str, tuple[list[int], list[float]]] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        step = int(record.pop("iteration"))
        for name, value in record.items():
            if isinstance(value, (int, float)):
                its, values = series.setdefault(name, ([], []))
                its.append(step)
                values.append(float(value))
    return series


def loss_figure(title: str, series: dict[str, tuple[list[int], list[float]]], path: str) -> None:
    """Save loss curves (one line per loss, log scale when positive) as a PNG."""
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for name, (its, values) in sorted(series.items()):
        ax.plot(its, values, label=name, linewidth=1)
    if all(v > 0 for _, values in series.values() for v in values):
        ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_title(title)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
