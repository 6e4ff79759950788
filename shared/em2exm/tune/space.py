"""What a search varies: the thresholds a decoder takes, where they start and the values they are tried at."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

import em2exm.decode as decode
from em2exm.decode import decode_blockwise
from em2exm.decode.options import DecodeOptions
from em2exm.errors import UserError
from em2exm.tune.options import SEARCHED, TuneDecodeParams

PROBABILITIES = (0.01, 0.02, *(round(0.05 * k, 2) for k in range(1, 20)), 0.98, 0.99)
DISTANCES = tuple(round(-0.9 + 0.1 * k, 1) for k in range(19))
SMALL = (0, 16, 32, 64, 128, 256, 512)
THRESHOLDS = ("thres1", "thres2", "thres3", "thres4", "thres5")
Params = dict[str, float]


def _signature(mode: str) -> dict[str, inspect.Parameter]:
    return dict(inspect.signature(getattr(decode, mode)).parameters)


def searched(mode: str, vary: tuple[str, ...]) -> list[str]:
    """The parameters searched for ``mode``: ``vary`` (default: every threshold it takes, and thres_small)."""
    takes = [name for name in SEARCHED if name in _signature(mode)]
    if not vary:
        return takes
    missing = [name for name in vary if name not in takes]
    if missing:
        raise UserError(f"{mode} has no {', '.join(missing)}", f"vary only what {mode} takes: {', '.join(takes)}")
    return list(vary)


def start_options(params: TuneDecodeParams, mode: str, baseline_mode: str) -> DecodeOptions:
    """The options a search of ``mode`` starts from: the baseline for its own decoder; for another decoder the
    baseline without thresholds (that decoder's defaults)."""
    options = params.baseline().model_dump()
    if mode != baseline_mode:
        options.update({name: None for name in THRESHOLDS})
    return DecodeOptions.model_validate({**options, "mode": mode})


def start(options: DecodeOptions, mode: str, names: list[str]) -> Params:
    """The values ``names`` take in ``options`` (an unset threshold: the decoder's default)."""
    defaults = _signature(mode)
    values = options.model_dump()
    return {name: values[name] if values[name] is not None else defaults[name].default for name in names}


def candidates(name: str, begin: float, given: dict[str, tuple[float, ...]]) -> tuple[float, ...]:
    """The values ``name`` is tried at: given, else its kind's default grid; the start value always."""
    if name in given:
        values = given[name]
    elif name == "thres_small":
        values = SMALL
    else:
        values = DISTANCES if name in ("thres4", "thres5") else PROBABILITIES
    values = (*values, begin)
    return tuple(sorted({int(v) if name == "thres_small" else float(v) for v in values}))


def options_with(base: DecodeOptions, mode: str, params: Params) -> DecodeOptions:
    """``base`` with ``mode`` and ``params`` set (checked by the options model)."""
    return DecodeOptions.model_validate({**base.model_dump(), "mode": mode, **params})


def check_options(options: DecodeOptions, mode: str, channels: int, dtype: Any) -> None:
    """Exit 2 unless ``mode``'s decoder takes ``options`` (tried on one voxel, as the decode stage does)."""
    decode_blockwise(np.zeros((channels, 1, 1, 1), dtype), (1, 1, 1), options.spec(mode))


def check_values(base: DecodeOptions, mode: str, space: dict[str, tuple[float, ...]], channels: int,
                 dtype: Any) -> None:
    """Every candidate value is one the decoder accepts (exit 2 before anything is written, not mid-search)."""
    for name, values in space.items():
        for value in values:
            check_options(options_with(base, mode, {name: value}), mode, channels, dtype)
