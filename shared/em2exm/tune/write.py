"""What tune-decode writes: the best decode section to paste (best.yaml), every candidate (search.csv), a summary
(search.md), a picture of the search (search.png) and all of it as JSON (result.json)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

import yaml

from em2exm import storage
from em2exm.decode.options import DecodeOptions
from em2exm.tune.options import SEARCHED, TuneDecodeParams
from em2exm.tune.search import Trial

PRODUCTS = ("best.yaml", "search.csv", "search.md", "search.png", "result.json")
LOWER_IS_BETTER = {"voi": True, "rand": True, "ap50": False}
NAMES = {"voi": "VOI (split + merge)", "rand": "adapted Rand error", "ap50": "AP@0.5"}


def decode_section(best: DecodeOptions, searched: Sequence[str]) -> dict[str, Any]:
    """The decode section to paste: the mode, every searched parameter, and what else differs from the defaults."""
    values = best.model_dump(mode="json")
    section = {"mode": values["mode"], **{name: values[name] for name in SEARCHED if name in searched}}
    section.update({k: v for k, v in best.model_dump(mode="json", exclude_defaults=True).items() if k not in section})
    return section


def best_yaml(result: dict[str, Any]) -> str:
    metric = result["metric"]
    head = [f"# em2exm tune-decode: the best of {result['candidates']} candidates by {NAMES[metric]} "
            f"({'lower' if LOWER_IS_BETTER[metric] else 'higher'} is better) on box {result['crop']} of",
            f"#   {result['predictions']} against {result['labels']}",
            f"# baseline {result['baseline']['scores'][metric]:.4f} -> best {result['best']['scores'][metric]:.4f}; "
            "paste this section into the pipeline YAML (replacing its decode section)"]
    return "\n".join(head) + "\n" + yaml.safe_dump({"decode": result["decode"]}, sort_keys=False, default_flow_style=None)


def search_csv(trials: Sequence[Trial]) -> str:
    buffer = io.StringIO()
    columns = ["candidate", "phase", "mode", *SEARCHED, "voi", "voi_split", "voi_merge", "rand", "ap50", "instances",
               "groundtruth", "seconds"]
    writer = csv.DictWriter(buffer, columns, lineterminator="\n")
    writer.writeheader()
    for trial in trials:
        writer.writerow({"candidate": trial.index, "phase": trial.phase, "mode": trial.mode, **trial.params,
                         **trial.scores, "seconds": f"{trial.seconds:.3f}"})
    return buffer.getvalue()


def _row(name: str, entry: dict[str, Any], holdout: bool) -> str:
    scores = [entry["scores"]] + ([entry["holdout"]] if holdout else [])
    cells = " | ".join(f"{s['voi']:.3f} | {s['rand']:.3f} | {s['ap50']:.3f}" for s in scores)
    params = ", ".join(f"{k} {v}" for k, v in entry["params"].items())
    return f"| {name} | {entry['mode']} | {params} | {cells} |"


def _decoder_row(mode: str, entry: dict[str, Any]) -> str:
    s, params = entry["scores"], ", ".join(f"{k} {v}" for k, v in entry["params"].items())
    return f"| {mode} | {params} | {s['voi']:.3f} | {s['rand']:.3f} | {s['ap50']:.3f} |"


def search_md(result: dict[str, Any], trials: Sequence[Trial]) -> str:
    metric, holdout = result["metric"], result.get("holdout") is not None
    head = "| | decoder | parameters | VOI | adapted Rand | AP@0.5 |" + (" VOI | adapted Rand | AP@0.5 |" if holdout else "")
    lines = [f"# Decoder thresholds tuned by {NAMES[metric]}", "",
             f"{result['candidates']} candidates ({result['search']} search, {result['seconds_per_candidate']:.2f} s "
             f"each) on box {result['crop']}" + (f"; held-out box {result['holdout']} scored only for the two rows"
                                                 if holdout else "") + ".", "", head,
             "|" + "---|" * (head.count("|") - 1),
             _row("baseline", result["baseline"], holdout), _row("best", result["best"], holdout), "",
             "Best ten candidates:", "", "| candidate | decoder | parameters | VOI | adapted Rand | AP@0.5 |",
             "|---|---|---|---|---|---|"]
    if len(result["per_decoder"]) > 1:
        lines[-4:-4] = ["Best per decoder:", "", "| decoder | parameters | VOI | adapted Rand | AP@0.5 |",
                        "|---|---|---|---|---|", *(_decoder_row(mode, entry) for mode, entry in result["per_decoder"].items()), ""]
    ranked = sorted(trials, key=lambda t: t.scores[metric] * (1 if LOWER_IS_BETTER[metric] else -1))
    for trial in ranked[:10]:
        params = ", ".join(f"{k} {v}" for k, v in trial.params.items())
        s = trial.scores
        lines.append(f"| {trial.index} | {trial.mode} | {params} | {s['voi']:.3f} | {s['rand']:.3f} | {s['ap50']:.3f} |")
    return "\n".join(lines) + "\n"


def search_png(result: dict[str, Any], trials: Sequence[Trial]) -> bytes:
    """The metric of every candidate in search order (with the running best), and against each parameter."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metric = result["metric"]
    names = [n for n in SEARCHED if any(n in t.params for t in trials)]
    figure, axes = plt.subplots(1, 1 + len(names), figsize=(3.2 * (1 + len(names)), 3), squeeze=False, sharey=True)
    values = [t.scores[metric] for t in trials]
    pick = min if LOWER_IS_BETTER[metric] else max
    running = [pick(values[: i + 1]) for i in range(len(values))]
    axes[0, 0].plot(values, ".", color="0.6", label="candidate")
    axes[0, 0].plot(running, "-", color="C3", label="best so far")
    axes[0, 0].axhline(result["baseline"]["scores"][metric], color="C0", ls="--", label="baseline")
    axes[0, 0].set(xlabel="candidate", ylabel=NAMES[metric], title="search")
    axes[0, 0].legend(fontsize=7)
    best = result["best"]
    for ax, name in zip(axes[0, 1:], names):
        for colour, mode in enumerate(sorted({t.mode for t in trials})):
            points = [(t.params[name], t.scores[metric]) for t in trials if t.mode == mode and name in t.params]
            if points:
                ax.plot(*zip(*points), ".", color=f"C{colour}", alpha=0.6, label=mode)
        if name in best["params"]:
            ax.plot(best["params"][name], best["scores"][metric], "*", color="C3", ms=12)
        ax.set(xlabel=name, title=name)
    axes[0, -1].legend(fontsize=7)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return buffer.getvalue()


def write_all(params: TuneDecodeParams, result: dict[str, Any], trials: Sequence[Trial]) -> None:
    """Write every product into ``params.output``."""
    files = {"best.yaml": best_yaml(result).encode(), "search.csv": search_csv(trials).encode(),
             "search.md": search_md(result, trials).encode(), "search.png": search_png(result, trials),
             "result.json": json.dumps(result, indent=1).encode()}
    for name, data in files.items():
        storage.write_bytes(storage.join(params.output, name), data)
