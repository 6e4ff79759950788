"""A finished run's experiment table as JSON: every experiment's scores and the share of the (a) raw -> (d) oracle
gap it closes, with date, commit and the run's config, for the benchmark tables in the README.

    .venv/bin/python bench/run_table.py runs/benchmark-sim [--config configs/benchmark-sim.yaml] [--seconds S]
                                        [--output bench/results/benchmark-sim.json]
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "shared"))

from em2exm.report import COLUMNS, gap_closed, read_metrics  # noqa: E402

KEYS = ("ap@0.5", "f1@0.5", "ap", "voi", "voi_split", "voi_merge", "adapted_rand_skimage", "n_groundtruth",
        "n_segmentation", "ignored_gt_instances")


def table(run: str) -> dict[str, dict[str, float | None]]:
    """Per experiment: its scores, and for AP@0.5 / F1@0.5 / VOI the gap closed in percent."""
    metrics = read_metrics(run)
    raw, oracle = metrics.get("raw"), metrics.get("oracle")
    rows = {}
    for name, row in metrics.items():
        out: dict[str, float | None] = {k: row[k] for k in KEYS if k in row}
        for metric, _, higher in COLUMNS:
            share = gap_closed(row[metric], raw[metric], oracle[metric], higher) if raw and oracle else None
            out[f"gap_closed_{metric}_pct"] = None if share is None else round(100 * share, 1)
        rows[name] = out
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="the run's store (folder or URL)")
    parser.add_argument("--config", help="the pipeline YAML the run was made with (recorded)")
    parser.add_argument("--seconds", type=float, help="wall seconds of the run (recorded)")
    parser.add_argument("--output", help="also write the JSON here")
    args = parser.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    document = {
        "date": datetime.date.today().isoformat(), "commit": commit or None, "run": args.run,
        "config": Path(args.config).read_text() if args.config else None, "wall_seconds": args.seconds,
        "experiments": table(args.run),
    }
    text = json.dumps(document, indent=1)
    if args.output:
        Path(args.output).write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
