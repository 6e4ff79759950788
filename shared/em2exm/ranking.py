"""Which experiment of a run did best: the one `em2exm status`, `em2exm runs` and the viewer put first."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

CEILINGS = ("oracle", "rendered")
"""Experiments that bound what adaptation can reach (trained on the target's own labels, or on a perfect
translation); they are ranked only when a run has nothing else."""
RANK_BY = "ap@0.5"
TIE_BREAK = "voi"


def best_experiment(metrics: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The experiment with the highest AP@0.5 (ties: the lower VOI), ceilings left out unless they are all there
    is; None when no experiment was scored."""
    scored = [name for name, row in metrics.items() if RANK_BY in row]
    candidates = [name for name in scored if name not in CEILINGS] or scored
    if not candidates:
        return None
    return max(candidates, key=lambda name: (metrics[name][RANK_BY], -metrics[name].get(TIE_BREAK, float("inf"))))
