"""How much of the (a) raw -> (d) oracle gap the CycleGAN experiments close, by CycleGAN training iterations.

For each budget of k iterations, in increasing order, runs ``em2exm run CONFIG`` into one sweep store with the
CycleGAN's schedule set to exactly k iterations, then reads every experiment's metrics. The runner skips what
does not depend on the CycleGAN ((a) raw, (d) oracle, (e) intensity, ingest: computed in the first run only), and
redoes the CycleGANs (ccgan-train of a completed output with other options starts afresh, it does not resume) and
everything downstream of them: (b) ccgan, (c) segmatch and (f) seghead.

Splitting k into ``ccgan.n_epochs``, ``ccgan.n_epochs_decay`` and ``ccgan.iters_per_epoch`` keeps the config's
epochs (so its learning-rate schedule, constant then linear decay stepped per epoch, keeps its shape) and sets
``iters_per_epoch = k / (n_epochs + n_epochs_decay)`` when that divides exactly; otherwise m*p + m*q epochs, with
p : q the config's ratio in lowest terms and m the largest number up to gcd(n_epochs, n_epochs_decay) for which
m*(p+q) divides k. A budget that is not a multiple of p+q is refused. configs/demo.yaml
(3 + 3 epochs of 100) runs 150, 300, 600, 1200 as 3 + 3 epochs of 25, 50, 100, 200 iterations: 600 is the demo.

Per budget it records, for the CycleGAN experiments present and for (e) intensity (the no-learning reference),
AP@0.5, F1@0.5 and VOI and the percentage of the raw -> oracle gap each closes (100: as good as the oracle; VOI
lower is better), (a) and (d)'s values, the iterations each CycleGAN checkpoint trained, and the run's wall
seconds (the first run's include the shared steps). Prints one JSON document and writes it, with a picture (gap
closed in % against iterations for AP@0.5 and VOI), as ``gap_vs_iterations.json`` / ``.png`` into the sweep
store, after every budget. Stores may be any em2exm storage URL (folder or s3://). Default sweep store: the
config's ``run.store`` with ``-gap-vs-iterations`` appended (runs/demo -> runs/demo-gap-vs-iterations).

    .venv/bin/python bench/gap_vs_iterations.py --config configs/demo.yaml --iterations 150,300,600,1200
                                                [--store URL] [--png docs/demo-gap-vs-iterations.png] [--set K=V]
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "shared"))

from em2exm import commit, storage  # noqa: E402
from em2exm.config import load_pipeline  # noqa: E402
from em2exm.errors import UserError  # noqa: E402
from em2exm.layout import RunLayout  # noqa: E402
from em2exm.report import ADAPTATIONS, BASELINE, COLUMNS, gap_closed, read_metrics  # noqa: E402

SUFFIX = "-gap-vs-iterations"
RESULT = "gap_vs_iterations"
LABELS = {"ccgan": "(b) CycleGAN", "segmatch": "(c) CycleGAN + seg_match", "seghead": "(f) CycleGAN seg head",
          BASELINE: "(e) intensity (no learning)"}
PANELS = (("ap@0.5", "AP@0.5"), ("voi", "VOI"))


def parse_budgets(text: str) -> list[int]:
    """Comma-separated iteration budgets as sorted, distinct positive integers."""
    budgets = sorted({int(part) for part in text.split(",") if part.strip()})
    if not budgets or budgets[0] < 1:
        raise ValueError(f"budgets must be positive integers, got {text!r}")
    return budgets


def split_budget(k: int, n_epochs: int, n_epochs_decay: int) -> tuple[int, int, int]:
    """``(n_epochs, n_epochs_decay, iters_per_epoch)`` training exactly ``k`` iterations with the config's ratio
    of constant to decaying epochs: the config's epochs when they divide ``k``, else the largest fitting multiple
    of the reduced ratio."""
    divisor = math.gcd(n_epochs, n_epochs_decay)
    if divisor == 0:
        raise ValueError("the config trains 0 epochs (n_epochs + n_epochs_decay = 0)")
    p, q = n_epochs // divisor, n_epochs_decay // divisor
    for m in range(divisor, 0, -1):
        if k % (m * (p + q)) == 0:
            return m * p, m * q, k // (m * (p + q))
    raise ValueError(f"{k} iterations cannot keep the ratio {n_epochs}:{n_epochs_decay} of constant to decaying "
                     f"epochs: use a multiple of {p + q}")


def sweep_store(store: str | None, config_store: str) -> str:
    """The sweep's store URL: ``store`` (a local path relative to the working directory), else the config's
    resolved ``run.store`` with :data:`SUFFIX` appended to its last component."""
    return storage.normalise(store) if store else storage.normalise(config_store) + SUFFIX


def run_command(config: str, store: str, split: tuple[int, int, int], sets: list[str]) -> list[str]:
    """``em2exm run`` of the config into ``store`` with the CycleGAN schedule ``split``."""
    n_epochs, n_epochs_decay, iters_per_epoch = split
    overrides = [*sets, f"run.store={store}", f"ccgan.n_epochs={n_epochs}", f"ccgan.n_epochs_decay={n_epochs_decay}",
                 f"ccgan.iters_per_epoch={iters_per_epoch}"]
    return [sys.executable, "-m", "em2exm", "run", config, *(arg for s in overrides for arg in ("--set", s))]


def run_streamed(command: list[str]) -> tuple[int, float]:
    """Run ``command`` with its output on this process's stderr; its exit code and wall seconds."""
    print("$ " + " ".join(command), file=sys.stderr, flush=True)
    start = time.perf_counter()
    code = subprocess.call(command, stdout=sys.stderr)
    return code, time.perf_counter() - start


def entry(values: dict[str, Any], low: dict[str, Any] | None, high: dict[str, Any] | None) -> dict[str, Any]:
    """One experiment's metric values and the percentage of the gap from ``low`` (raw) to ``high`` (oracle)
    each closes (None without both ends or when they coincide)."""
    result: dict[str, Any] = {"values": {m: values[m] for m, _, _ in COLUMNS if m in values}, "gap_closed_pct": {}}
    for metric, _, higher in COLUMNS:
        share = None
        if metric in values and low and high and metric in low and metric in high:
            share = gap_closed(values[metric], low[metric], high[metric], higher)
        result["gap_closed_pct"][metric] = None if share is None else round(100 * share, 2)
    return result


def build_row(k: int, split: tuple[int, int, int], metrics: dict[str, dict[str, Any]], seconds: float,
              trained: dict[str, int] | None = None) -> dict[str, Any]:
    """The record of one budget from the run's metrics by experiment name."""
    low, high = metrics.get("raw"), metrics.get("oracle")
    bounds = {name: {m: metrics[name][m] for m, _, _ in COLUMNS if m in metrics[name]}
              for name in ("raw", "oracle") if name in metrics}
    return {
        "iterations": k,
        "n_epochs": split[0],
        "n_epochs_decay": split[1],
        "iters_per_epoch": split[2],
        "seconds": round(seconds, 1),
        "trained_iterations": trained or {},
        "bounds": bounds,
        "experiments": {name: entry(metrics[name], low, high) for name in ADAPTATIONS if name in metrics},
        BASELINE: entry(metrics[BASELINE], low, high) if BASELINE in metrics else None,
    }


def trained_iterations(store: str) -> dict[str, int]:
    """Iterations each committed CycleGAN checkpoint of the store trained (from its completion marker)."""
    at, found = RunLayout(store), {}
    for name in at.ccgan_models():
        url = at.ccgan_model(name)
        if commit.is_complete(url) and "iterations" in commit.read_marker(url):
            found[name] = int(commit.read_marker(url)["iterations"])
    return found


def git_commit() -> str | None:
    """The repository's short HEAD commit, with ``+dirty`` for uncommitted changes; None outside git."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True)
    except OSError:
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + ("+dirty" if dirty.returncode == 0 and dirty.stdout.strip() else "")


def plot(rows: list[dict[str, Any]], title: str) -> bytes:
    """PNG: gap closed (%) against CycleGAN iterations, one panel per metric of :data:`PANELS`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    budgets = [row["iterations"] for row in rows]
    figure, axes = plt.subplots(1, len(PANELS), figsize=(11, 4.2), squeeze=False)
    for ax, (metric, name) in zip(axes[0], PANELS):
        for experiment in ADAPTATIONS:
            points = [(row["iterations"], row["experiments"][experiment]["gap_closed_pct"][metric]) for row in rows
                      if experiment in row["experiments"]]
            points = [(x, y) for x, y in points if y is not None]
            if points:
                ax.plot(*zip(*points), marker="o", label=LABELS[experiment])
        reference = next((row[BASELINE]["gap_closed_pct"][metric] for row in reversed(rows) if row[BASELINE]), None)
        if reference is not None:
            ax.axhline(reference, color="tab:gray", linestyle="--", label=LABELS[BASELINE])
        ax.axhline(0, color="black", linewidth=0.8, linestyle=":", label="(a) raw EM = 0%, (d) oracle = 100%")
        ax.axhline(100, color="black", linewidth=0.8, linestyle=":")
        if budgets and max(budgets) > 4 * min(budgets):
            ax.set_xscale("log")
        ax.set_xticks(budgets, [str(b) for b in budgets])
        ax.minorticks_off()
        ax.set_xlabel("CycleGAN iterations")
        ax.set_ylabel(f"gap closed, {name} (%)")
        ax.set_title(name + (" (lower VOI closes more of the gap)" if metric == "voi" else ""), fontsize=10)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8, loc="best")
    figure.suptitle(title)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return buffer.getvalue()


def write_results(document: dict[str, Any], store: str, png: str | None) -> None:
    """The JSON document and its picture into the sweep store (the picture also to ``png`` when given)."""
    storage.write_bytes(storage.join(store, f"{RESULT}.json"), json.dumps(document, indent=1).encode())
    if not document["rows"]:
        return
    picture = plot(document["rows"], f"Gap closed vs CycleGAN iterations: {document['info']['config']}")
    storage.write_bytes(storage.join(store, f"{RESULT}.png"), picture)
    if png:
        Path(png).parent.mkdir(parents=True, exist_ok=True)
        Path(png).write_bytes(picture)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/demo.yaml", help="pipeline YAML")
    parser.add_argument("--iterations", default="150,300,600,1200", help="comma-separated CycleGAN budgets")
    parser.add_argument("--store", default=None, help=f"sweep store URL (default: the config's run.store + {SUFFIX})")
    parser.add_argument("--png", default=None, help="also write the picture to this local path (e.g. docs/)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="another config override for every run (repeatable)")
    args = parser.parse_args()
    try:
        budgets = parse_budgets(args.iterations)
        config = load_pipeline(args.config, args.set)
        splits = [split_budget(k, config.ccgan.n_epochs, config.ccgan.n_epochs_decay) for k in budgets]
    except (ValueError, UserError) as exc:
        parser.error(str(exc))
    store = sweep_store(args.store, config.run.store)
    info = {"config": args.config, "sets": args.set, "store": store, "budgets": budgets,
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), "commit": git_commit(),
            "config_ccgan": {k: getattr(config.ccgan, k) for k in ("n_epochs", "n_epochs_decay", "iters_per_epoch")}}
    document: dict[str, Any] = {"info": info, "rows": []}
    for k, split in zip(budgets, splits):
        code, seconds = run_streamed(run_command(args.config, store, split, args.set))
        if code != 0:
            print(f"em2exm run for {k} iterations failed with exit code {code}", file=sys.stderr)
            sys.exit(code)
        document["rows"].append(build_row(k, split, read_metrics(store), seconds, trained_iterations(store)))
        write_results(document, store, args.png)
        print(json.dumps({"iterations": k, "seconds": round(seconds, 1)}), file=sys.stderr, flush=True)
    print(json.dumps(document, indent=1))


if __name__ == "__main__":
    main()
