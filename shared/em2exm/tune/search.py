"""The searches: coordinate descent (one parameter at a time, the best kept, pass after pass) and a full grid.
Both start from the baseline and replace the best only by a strictly better candidate, so the result is never
worse than the start on the searched box."""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from em2exm.decode.options import DecodeOptions
from em2exm.errors import UserError
from em2exm.tune.options import Metric
from em2exm.tune.space import Params, options_with

log = logging.getLogger("em2exm.tune_decode")
Score = Callable[[DecodeOptions, str], dict[str, float]]
Space = dict[str, tuple[float, ...]]


@dataclass(frozen=True)
class Trial:
    """One candidate: its decoder and parameters, its scores, the seconds it took and the search phase."""

    index: int
    mode: str
    params: Params
    scores: dict[str, float]
    seconds: float
    phase: str


def size(search: str, space: Space, rounds: int) -> int:
    """Candidates a search of ``space`` scores at most (the start included)."""
    counts = [len(values) for values in space.values()]
    return 1 + (math.prod(counts) if search == "grid" else rounds * sum(counts))


class Search:
    """Scores candidates once each (a repeat returns the earlier trial) and keeps them in order."""

    def __init__(self, scorer: Score, metric: Metric) -> None:
        self.scorer, self.metric = scorer, metric
        self.trials: list[Trial] = []
        self.seen: dict[str, Trial] = {}

    def better(self, a: Trial, b: Trial) -> bool:
        """Whether ``a`` beats ``b`` strictly by the metric."""
        if self.metric == "ap50":
            return a.scores["ap50"] > b.scores["ap50"]
        return a.scores[self.metric] < b.scores[self.metric]

    def trial(self, base: DecodeOptions, mode: str, params: Params, phase: str) -> Trial:
        """``base`` with ``mode`` and ``params``, scored (once)."""
        options = options_with(base, mode, params)
        key = options.model_dump_json()
        if key in self.seen:
            return self.seen[key]
        began = time.perf_counter()
        scores = self.scorer(options, mode)
        found = Trial(len(self.trials), mode, dict(params), scores, time.perf_counter() - began, phase)
        self.trials.append(found)
        self.seen[key] = found
        log.info("%s %s %s: %s %.4f", phase, mode, params, self.metric, scores[self.metric])
        return found


def coordinate(search: Search, base: DecodeOptions, mode: str, start: Params, space: Space, rounds: int) -> Trial:
    """Sweep each parameter through its values with the others fixed; keep the best; repeat while it changes."""
    best = search.trial(base, mode, start, "start")
    for round_ in range(1, rounds + 1):
        before = best
        for name, values in space.items():
            for value in values:
                candidate = search.trial(base, mode, {**best.params, name: value}, f"round {round_} {name}")
                if search.better(candidate, best):
                    best = candidate
        if best is before:
            break
    return best


def grid(search: Search, base: DecodeOptions, mode: str, start: Params, space: Space) -> Trial:
    """Every combination of the values."""
    best = search.trial(base, mode, start, "start")
    names = list(space)
    for combination in itertools.product(*space.values()):
        candidate = search.trial(base, mode, {**start, **dict(zip(names, combination))}, "grid")
        if search.better(candidate, best):
            best = candidate
    return best


def check_size(search: str, spaces: list[Space], rounds: int, limit: int) -> int:
    """The number of candidates at most; exit 2 above ``limit``."""
    total = sum(size(search, space, rounds) for space in spaces)
    if total > limit:
        raise UserError(f"the {search} search would score up to {total} candidates, more than max_candidates {limit}",
                        "give fewer values per parameter (values), vary fewer parameters (vary), use the coordinate "
                        "search, or raise max_candidates")
    return total
