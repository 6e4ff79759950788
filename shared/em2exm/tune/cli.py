"""tune-decode: search the decoder's thresholds on a labelled box of a run's predictions.

Starts from the decode options the run decoded the experiment with (recorded in its instances; the decode section
of --config, --params and --set override them), decodes the box blockwise with each candidate (the decode stage's
decoder and block plan) and scores it as evaluate does; writes the best options as a decode section to paste
(best.yaml), every candidate (search.csv), a summary (search.md), a picture (search.png) and result.json.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from em2exm import outputs, stagekit, storage
from em2exm.config import section_from_sources, validate
from em2exm.decode.options import DecodeOptions
from em2exm.tune import space as spaces
from em2exm.tune.inputs import Labels, ignored, open_predictions, recorded_decode, search_box, sources
from em2exm.tune.options import TuneDecodeParams
from em2exm.tune.scorer import Scorer, box_text, parse_box
from em2exm.tune.search import Search, Space, Trial, check_size, coordinate, grid
from em2exm.tune.space import Params
from em2exm.tune.write import PRODUCTS, decode_section, write_all

FLAGS = ("run", "experiment", "predictions", "labels", "crop", "holdout", "metric", "search", "output")


def parse(argv: Sequence[str]) -> tuple[TuneDecodeParams, argparse.Namespace]:
    """Options (the run's recorded decode options < --config's decode section < --params < --set < flags)."""
    parser = stagekit.tool_parser("tune-decode", __doc__.splitlines()[0], TuneDecodeParams, "decode")
    for flag in FLAGS:
        parser.add_argument("--" + flag, help=f"the option {flag} (see below)")
    args = parser.parse_args(argv)
    data = section_from_sources("decode", args.config, args.params, args.set)
    data.update({k: getattr(args, k) for k in FLAGS if getattr(args, k) is not None})
    first = validate(TuneDecodeParams, data, "the 'tune-decode' options")
    for url in (first.run, first.predictions, first.labels, first.output):
        if url:
            storage.check_url(url)
    recorded = recorded_decode(sources(first).predictions)
    return validate(TuneDecodeParams, {**recorded, **data}, "the 'tune-decode' options"), args


def _entry(trial: Trial, base: DecodeOptions, holdout: Scorer | None) -> dict[str, Any]:
    entry = {"mode": trial.mode, "params": trial.params, "scores": trial.scores}
    if holdout is not None:
        entry["holdout"] = holdout(spaces.options_with(base, trial.mode, trial.params), trial.mode)
    return entry


@dataclass(frozen=True)
class Plan:
    """The search of one decoder: the options it starts from, the start values and the values to try."""

    mode: str
    base: DecodeOptions
    start: Params
    space: Space


def _plans(params: TuneDecodeParams, channels: int, names: Any, dtype: Any, baseline_mode: str) -> list[Plan]:
    """One search per decoder, every candidate value checked (exit 2 before anything is written)."""
    plans = []
    for mode in params.modes or (baseline_mode,):
        params.model_copy(update={"mode": mode}).resolve_mode(channels, names)
        base = spaces.start_options(params, mode, baseline_mode)
        start = spaces.start(base, mode, spaces.searched(mode, ()))
        space = {name: spaces.candidates(name, start[name], params.values) for name in spaces.searched(mode, params.vary)}
        spaces.check_values(base, mode, space, channels, dtype)
        plans.append(Plan(mode, base, start, space))
    check_size(params.search, [plan.space for plan in plans], params.rounds, params.max_candidates)
    return plans


@dataclass
class Outcome:
    """What the searches found: every trial, the baseline's, the best (with the options it was decoded with) and
    the best of each decoder."""

    search: Search
    baseline: Trial
    best: Trial
    best_base: DecodeOptions
    per_decoder: dict[str, dict[str, Any]]


def _search(params: TuneDecodeParams, plans: list[Plan], scorer: Scorer, baseline: DecodeOptions,
            baseline_mode: str) -> Outcome:
    """Score the baseline, then run each decoder's search; the best replaces the baseline only if strictly better."""
    search = Search(scorer, params.metric)
    start = search.trial(baseline, baseline_mode, spaces.start(baseline, baseline_mode, spaces.searched(baseline_mode, ())),
                         "baseline")
    outcome = Outcome(search, start, start, baseline, {})
    for plan in plans:
        if params.search == "grid":
            winner = grid(search, plan.base, plan.mode, plan.start, plan.space)
        else:
            winner = coordinate(search, plan.base, plan.mode, plan.start, plan.space, params.rounds)
        outcome.per_decoder[plan.mode] = {"params": winner.params, "scores": winner.scores}
        if search.better(winner, outcome.best):
            outcome.best, outcome.best_base = winner, plan.base
    return outcome


def run(params: TuneDecodeParams, redo: outputs.Redo) -> dict[str, Any]:
    """Check every input, claim the output, search, write; return the result (empty when it was complete)."""
    found = sources(params)
    maps = open_predictions(found.predictions, params.float_scale)
    names, channels, shape = maps.attrs.get("channels"), maps.shape[0], maps.spatial_shape
    baseline = params.baseline()
    baseline_mode = baseline.resolve_mode(channels, names)
    spaces.check_options(baseline, baseline_mode, channels, maps.array.dtype)
    box = search_box(params, found, shape)
    held = parse_box(params.holdout, shape, "holdout") if params.holdout else None
    labels, ignore = Labels(found.labels, shape, box), ignored(params, found)
    plans = _plans(params, channels, names, maps.array.dtype, baseline_mode)
    scorer = Scorer(maps, labels.of(box, box), box, params.margin, ignore)
    holdout = Scorer(maps, labels.of(held, box), held, params.margin, ignore) if held else None
    inputs = {"predictions": found.predictions, "labels": found.labels}
    with outputs.claim(params.output, stage="tune-decode", options=params, inputs=inputs, products=PRODUCTS,
                       redo=redo) as output:
        if output.complete:
            return {}
        outcome = _search(params, plans, scorer, baseline, baseline_mode)
        trials, best = outcome.search.trials, outcome.best
        result = {
            "metric": params.metric, "search": params.search, "predictions": found.predictions,
            "labels": found.labels, "crop": box_text(box), "holdout": box_text(held) if held else None,
            "ignore_gt_smaller_than": ignore, "candidates": len(trials),
            "seconds_per_candidate": statistics.mean(t.seconds for t in trials),
            "baseline": _entry(outcome.baseline, baseline, holdout), "best": _entry(best, outcome.best_base, holdout),
            "per_decoder": outcome.per_decoder,
            "decode": decode_section(spaces.options_with(outcome.best_base, best.mode, best.params), list(best.params)),
        }
        write_all(params, result, trials)
        output.commit({"stage": "tune-decode", "metric": params.metric})
    return result


def main(argv: Sequence[str]) -> None:
    """Entry point of ``em2exm tune-decode``."""
    params, args = parse(argv)
    result = run(params, stagekit.redo(args))
    if result:
        metric = params.metric
        print(f"{metric}: baseline {result['baseline']['scores'][metric]:.4f} -> best "
              f"{result['best']['scores'][metric]:.4f} ({result['candidates']} candidates); "
              f"{storage.join(params.output, 'best.yaml')}")
