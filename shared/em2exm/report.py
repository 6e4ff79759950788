"""report.md for a run: pictures, the experiment table and how much of the (a)->(d) gap each method closes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from em2exm import storage
from em2exm.layout import RunLayout

EXPERIMENTS = (
    ("raw", "(a) trained on raw EM (no adaptation)"),
    ("ccgan", "(b) trained on CCGAN-transferred EM"),
    ("segmatch", "(c) CCGAN with seg_match"),
    ("oracle", "(d) oracle trained on target labels"),
    ("intensity", "(e) EM inverted, blurred, histogram-matched (no learning)"),
    ("seghead", "(f) CCGAN segmentation head on ExM (no U-Net)"),
    ("rendered", "(g) EM labels rendered like the ExM (a perfect translator)"),
    ("drawn", "(h) EM labels drawn as membranes, blurred, histogram-matched (no learning)"),
)
COLUMNS = (("ap@0.5", "AP@0.5", True), ("f1@0.5", "F1@0.5", True), ("voi", "VOI (split+merge)", False))


def read_metrics(run: str) -> dict[str, dict[str, Any]]:
    """Metrics JSON of every experiment in the run, by experiment name."""
    at, found = RunLayout(run), {}
    for name in at.experiments():
        url = at.metrics(name)
        if storage.exists(url):
            found[name] = json.loads(storage.read_bytes(url))
    return found


def gap_closed(value: float, low: float, high: float, higher_is_better: bool) -> float | None:
    """Fraction of the gap from the baseline ``low`` to the oracle ``high`` that ``value`` closes."""
    span = (high - low) if higher_is_better else (low - high)
    if abs(span) < 1e-12:
        return None
    return ((value - low) if higher_is_better else (low - value)) / span


def experiment_table(metrics: dict[str, dict[str, Any]]) -> str:
    """Markdown table of the experiments (a)-(d) with gap closed per metric."""
    header = "| experiment | " + " | ".join(title for _, title, _ in COLUMNS) + " | gap closed (AP / F1 / VOI) |"
    lines = [header, "|" + "---|" * (len(COLUMNS) + 2)]
    base, oracle = metrics.get("raw"), metrics.get("oracle")
    for key, title in EXPERIMENTS:
        if key not in metrics:
            continue
        row = metrics[key]
        cells = [f"{row[m]:.3f}" if m in row else "—" for m, _, _ in COLUMNS]
        closed = []
        for metric, _, higher in COLUMNS:
            share = None
            if base and oracle and metric in row and metric in base and metric in oracle:
                share = gap_closed(row[metric], base[metric], oracle[metric], higher)
            closed.append(f"{100 * share:.0f}%" if share is not None else "—")
        lines.append(f"| {title} | " + " | ".join(cells) + " | " + " / ".join(closed) + " |")
    return "\n".join(lines)


ADAPTATIONS = ("ccgan", "segmatch", "seghead")
BASELINE = "intensity"
BASELINES = (BASELINE, "drawn")
"""The no-learning rows every adaptation must beat to have a reason to exist."""


def verdict(metrics: dict[str, dict[str, Any]], metric: str = "ap@0.5") -> str:
    """Which adaptation won, by how much, and against the no-learning baseline (empty without a ranking)."""
    titles = dict(EXPERIMENTS)
    ranked = sorted((m for m in ADAPTATIONS if metric in metrics.get(m, {})), key=lambda m: -metrics[m][metric])
    if not ranked:
        return ""
    base, oracle = metrics.get("raw", {}).get(metric), metrics.get("oracle", {}).get(metric)

    def closed(name: str) -> str:
        share = gap_closed(metrics[name][metric], base, oracle, True) if base is not None and oracle is not None else None
        return f" ({100 * share:.0f}% of the gap)" if share is not None else ""

    best = ranked[0]
    text = f"Best adaptation by {metric.upper()}: {titles[best]}, {metrics[best][metric]:.3f}{closed(best)}"
    if len(ranked) > 1:
        text += f", ahead of {titles[ranked[1]]} by {metrics[best][metric] - metrics[ranked[1]][metric]:+.3f}"
    for baseline in (b for b in BASELINES if metric in metrics.get(b, {})):
        delta = metrics[best][metric] - metrics[baseline][metric]
        text += (f". Against the no-learning baseline {titles[baseline]} ({metrics[baseline][metric]:.3f}"
                 f"{closed(baseline)}): {delta:+.3f}, the adaptation {'wins' if delta > 0 else 'does not win'}")
    return text + "."


def ignored_note(metrics: dict[str, dict[str, Any]]) -> list[str]:
    """A line saying which ground-truth instances the scores ignore (evaluate.ignore_gt_smaller_than), if any."""
    settings = {m.get("ignore_gt_smaller_than", 0) for m in metrics.values()}
    if settings == {0}:
        return []
    if len(settings) > 1:
        each = ", ".join(f"{name}: {m.get('ignore_gt_smaller_than', 0)}" for name, m in metrics.items())
        return [f"_The experiments were scored with different evaluate.ignore_gt_smaller_than ({each}): their rows "
                "do not compare; rerun with `em2exm run`._\n"]
    row = next(iter(metrics.values()))
    return [f"_Scored on ground-truth instances of at least {row['ignore_gt_smaller_than']} voxels in the held-out "
            f"region: {row.get('ignored_gt_instances', '?')} smaller ones ({row.get('ignored_gt_voxels', '?')} "
            f"voxels) are ignored (evaluate.ignore_gt_smaller_than), {row['n_groundtruth']} are scored._\n"]


def write_report(run: str, out: str, pictures: Sequence[str]) -> None:
    """Write ``out/report.md`` linking the pictures and holding the experiment table."""
    metrics = read_metrics(run)
    parts = [f"# em2exm run report\n\nRun store: `{run}`\n"]
    if metrics:
        parts.append("## Experiments (evaluated on the target-domain volume)\n\n" + experiment_table(metrics) + "\n")
        if verdict(metrics):
            parts.append(verdict(metrics) + "\n")
        parts += ignored_note(metrics)
        judged = {name: m.get("judge", True) for name, m in metrics.items()}
        if not all(judged.values()):
            parts.append("_The target labels describe other structures than the EM labels: these numbers report, they do not judge._\n")
    parts.append("## Pictures\n\n" + "\n\n".join(f"![{p}]({p})" for p in pictures) + "\n")
    parts.append(
        "## Viewer\n\n`em2exm view <run dir>` serves this run and prints a Neuroglancer URL "
        "(state in `neuroglancer_state.json`).\n"
    )
    storage.write_bytes(storage.join(out, "report.md"), "\n".join(parts).encode())
