"""Benchmark em2exm.decode on the PyTC v1.0 parity fixtures against PyTC's recorded baseline.

Prints JSON: per case our median wall time over N runs (and median thread CPU time, which a busy
machine inflates far less), peak extra memory (tracemalloc peak and the
process's peak RSS above its RSS before the call), whether the output has PyTC's partition, and
PyTC's numbers from BASELINE_pytc_v1_cpu.md with the speedup and memory ratios. ``--reference``
also times PyTC's pipeline run here (em2exm.decode.reference, scikit-image) for a same-machine
speedup. Each case runs in its own process, after one process has decoded every case once (so
numba's compiled code is cached on disk and no compilation lands inside a measurement).
``--cold`` adds, per case, the first call in a fresh process: ``cold_cached_s`` (numba's machine code
loaded from the on-disk cache) and ``cold_compile_s`` (an empty cache: JIT compilation included).
``--blockwise Z,Y,X`` adds the blockwise decode in blocks of that size (em2exm.decode.decode_blockwise,
in this one process): its median time and ratio to the whole-volume decode (the median ratio of pairs of
runs, whole then blockwise), the time of its phases (``blocks_s``, ``flood_s``, ``apply_s``: what parallel
tasks share; ``merge_s`` and ``number_s``: serial), the speed-up that parallel tasks would give by that split, and
the voxels whose label differs from the whole-volume decode (ids are the same; only exact plateaus may differ).

    .venv/bin/python bench/decode.py [--cases A_clean,D_clean] [--fixtures DIR] [--runs 3] [--reference] [--cold]
                                     [--blockwise 32,128,128]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_FIXTURES = REPO.parent / "shared" / "fixtures" / "pytc_v1_decode"
MB = 1e6


def baseline(fixtures: Path) -> dict[str, dict[str, float]]:
    """PyTC's median time per case and peak memory per config (measured on the mild inputs)."""
    times: dict[str, float] = {}
    memory: dict[str, tuple[float, float]] = {}
    for line in (fixtures / "BASELINE_pytc_v1_cpu.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not re.fullmatch(r"[A-Z]", cells[0]):
            continue
        if len(cells) == 14:
            times[f"{cells[0]}_{cells[2]}"] = float(cells[3])
        elif len(cells) == 5:
            memory[cells[0]] = (float(cells[2]), float(cells[4]))
    return {
        case: {"median_s": t, "tracemalloc_peak_mb": memory[case[0]][0], "rss_delta_mb": memory[case[0]][1]}
        for case, t in times.items() if case[0] in memory
    }


def load_case(fixtures: Path, case: str) -> tuple[dict, np.ndarray]:
    spec = json.loads((fixtures / "meta.json").read_text())[case]
    with np.load(fixtures / Path(spec["input"]).with_suffix(".npz").name) as f:
        return spec, f["maps"]


def rss_mb() -> float:
    """Current resident set size."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MB


def warm(fixtures: Path, cases: list[str]) -> None:
    """Decode every case once so numba caches each compiled specialisation on disk."""
    from em2exm import decode

    for case in cases:
        spec, maps = load_case(fixtures, case)
        getattr(decode, spec["func"])(maps, **spec["kwargs"])


def median_time(call: object, runs: int) -> tuple[float, list[float], float]:
    """Median and all wall times of ``runs`` calls, and the median CPU time of this thread (less
    sensitive than wall time to other processes on a busy machine)."""
    times, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.thread_time()
        call()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
        cpu.append(time.thread_time() - start_cpu)
    return statistics.median(times), times, statistics.median(cpu)


def first_call(fixtures: Path, case: str) -> float:
    """Wall time of the first decode in this process."""
    from em2exm import decode

    spec, maps = load_case(fixtures, case)
    start = time.perf_counter()
    getattr(decode, spec["func"])(maps, **spec["kwargs"])
    return time.perf_counter() - start


def blockwise_phases(maps: np.ndarray, block: tuple[int, int, int], spec: object) -> tuple[np.ndarray, dict]:
    """The blockwise decode's labels and the wall time of its phases (as the stage runs them)."""
    from em2exm.decode import MemoryState, apply_block, decode_block, flood_pass, merge_pass, number_pass, plan_for
    from em2exm.decode.relabel import label_dtype
    from em2exm.decode.relax import settled

    plan = plan_for(maps.shape[1:], block, spec)  # type: ignore[arg-type]
    ids = list(plan.block_ids())
    start, start_cpu = time.perf_counter(), time.thread_time()
    decoded = [decode_block(maps, plan, k, spec) for k in ids]  # type: ignore[arg-type]
    times = {"blocks_s": time.perf_counter()}
    state = MemoryState([data for _, data in decoded])
    merge_pass(plan, spec, ids, state)  # type: ignore[arg-type]
    times["merge_s"] = time.perf_counter()
    rounds = 1
    while not settled(flood_pass(plan, state, ids, rounds - 1)):
        rounds += 1
    times["flood_s"] = time.perf_counter()
    count = number_pass(spec, ids, state, rounds)  # type: ignore[arg-type]
    times["number_s"] = time.perf_counter()
    labels = np.zeros(plan.shape, label_dtype(count))
    for k, (local, _) in enumerate(decoded):
        labels[plan.core(k)] = apply_block(state, k, local, rounds)
    times["apply_s"] = time.perf_counter()
    ends = [start, *times.values()]
    return labels, {"blocks": len(plan), "flood_rounds": rounds,
                    **{k: b - a for k, a, b in zip(times, ends, ends[1:])}, "cpu_s": time.thread_time() - start_cpu}


PHASES = ("blocks_s", "merge_s", "flood_s", "number_s", "apply_s")
SERIAL = ("merge_s", "number_s")


def measure_blockwise(maps: np.ndarray, spec: dict, block: tuple[int, int, int], runs: int,
                      whole: np.ndarray) -> dict:
    """Blockwise time (wall and this thread's CPU), phases, parallel speed-up by the phase split, and
    voxels that differ. Each blockwise run follows a whole-volume run of the same maps and the ratios are the
    median of those pairs' ratios (this machine's speed drifts between runs more than the ratio moves)."""
    from em2exm import decode

    settings = decode.spec(spec["func"], **spec["kwargs"])
    decoder = getattr(decode, spec["func"])
    labels, _ = blockwise_phases(maps, block, settings)
    phases, pairs = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.thread_time()
        decoder(maps, **spec["kwargs"])
        whole_s, whole_cpu_s = time.perf_counter() - start, time.thread_time() - start_cpu
        phases.append(blockwise_phases(maps, block, settings)[1])
        pairs.append((sum(phases[-1][k] for k in PHASES) / whole_s, phases[-1]["cpu_s"] / whole_cpu_s, whole_s))
    median = {k: statistics.median(p[k] for p in phases) for k in PHASES}
    total = sum(median.values())
    serial = sum(median[k] for k in SERIAL)
    cpu = statistics.median(p["cpu_s"] for p in phases)
    return {
        "block": list(block), "blocks": phases[0]["blocks"], "flood_rounds": phases[0]["flood_rounds"],
        "blockwise_median_s": round(total, 4), "whole_paired_median_s": round(statistics.median(p[2] for p in pairs), 4),
        "blockwise_ratio": round(statistics.median(p[0] for p in pairs), 2), "blockwise_cpu_s": round(cpu, 4),
        "blockwise_cpu_ratio": round(statistics.median(p[1] for p in pairs), 2),
        **{k: round(v, 4) for k, v in median.items()},
        "speedup_with_tasks": {n: round(total / (serial + (total - serial) / n), 2) for n in (2, 4, 8, 16)},
        "instances": int(labels.max()), "instances_whole": int(whole.max()),
        "voxels_differ": int(np.count_nonzero(labels != whole)), "foreground": int(np.count_nonzero(whole)),
    }


def measure(fixtures: Path, case: str, runs: int, with_reference: bool,
            block: tuple[int, int, int] | None = None) -> dict:
    """Time, memory and parity of one case, in this (fresh) process."""
    from em2exm import decode
    from em2exm.decode import reference
    from em2exm.metrics import pair_counts

    spec, maps = load_case(fixtures, case)
    decoder = getattr(decode, spec["func"])
    decoder(maps[:, :8, :16, :16], **spec["kwargs"])
    before, peak_before = rss_mb(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
    seg = decoder(maps, **spec["kwargs"])
    peak_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
    median, times, cpu = median_time(lambda: decoder(maps, **spec["kwargs"]), runs)
    tracemalloc.start()
    decoder(maps, **spec["kwargs"])
    traced_peak = tracemalloc.get_traced_memory()[1] / MB
    tracemalloc.stop()
    with np.load(fixtures / f"ref_{case}.npz") as f:
        table = pair_counts(seg, f["seg"])
    parity = np.unique(table.gt).size == table.gt.size == np.unique(table.seg).size and bool(
        np.array_equal(table.gt == 0, table.seg == 0))
    row = {
        "case": case, "func": spec["func"], "kwargs": spec["kwargs"], "parity": bool(parity),
        "median_s": round(median, 4), "median_cpu_s": round(cpu, 4), "runs_s": [round(t, 4) for t in times],
        "tracemalloc_peak_mb": round(traced_peak, 1),
        "rss_delta_mb": round(peak_after - before, 1) if peak_after > peak_before else None,
    }
    if with_reference:
        ref_median, _, _ = median_time(lambda: reference.decode(spec["func"], maps, **spec["kwargs"]), runs)
        row["reference_here_median_s"] = round(ref_median, 4)
        row["speedup_here"] = round(ref_median / median, 2)
    if block:
        row["blockwise"] = measure_blockwise(maps, spec, block, runs, seg)
    return row


def cold(base: list[str], case: str, env: dict[str, str]) -> dict[str, float]:
    """First-call times of ``case`` in fresh processes, with numba's disk cache and with an empty one."""
    def run(extra_env: dict[str, str]) -> float:
        done = subprocess.run([*base, "--first-call", case], check=True, env={**env, **extra_env},
                              capture_output=True, text=True)
        return round(float(done.stdout), 3)

    with tempfile.TemporaryDirectory() as empty:
        return {"cold_cached_s": run({}), "cold_compile_s": run({"NUMBA_CACHE_DIR": empty})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", help="comma-separated cases from meta.json (default: all)")
    parser.add_argument("--fixtures", type=Path, default=DEFAULT_FIXTURES)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--reference", action="store_true", help="also time PyTC's pipeline (scikit-image) here")
    parser.add_argument("--cold", action="store_true", help="also time the first call in a fresh process")
    parser.add_argument("--blockwise", help="also decode blockwise in blocks of Z,Y,X voxels and compare")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--first-call", help=argparse.SUPPRESS)
    parser.add_argument("--warm", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    meta = json.loads((args.fixtures / "meta.json").read_text())
    cases = args.cases.split(",") if args.cases else list(meta)
    unknown = [c for c in cases if c not in meta]
    if unknown:
        parser.error(f"unknown case(s) {unknown}; meta.json has {sorted(meta)}")
    if args.warm:
        warm(args.fixtures, cases)
        return
    if args.first_call:
        print(json.dumps(first_call(args.fixtures, args.first_call)))
        return
    block = tuple(int(v) for v in args.blockwise.split(",")) if args.blockwise else None
    if block is not None and len(block) != 3:
        parser.error(f"--blockwise {args.blockwise} is not Z,Y,X")
    if args.worker:
        print(json.dumps(measure(args.fixtures, args.worker, args.runs, args.reference, block)))  # type: ignore[arg-type]
        return
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "shared"), os.environ.get("PYTHONPATH")]))}
    base = [sys.executable, __file__, "--fixtures", str(args.fixtures), "--runs", str(args.runs)]
    subprocess.run([*base, "--warm", "--cases", ",".join(cases)], check=True, env=env)
    pytc = baseline(args.fixtures)
    results = []
    for case in cases:
        extra = (["--reference"] if args.reference else []) + (["--blockwise", args.blockwise] if block else [])
        done = subprocess.run([*base, "--worker", case, *extra], check=True, env=env, capture_output=True, text=True)
        row = json.loads(done.stdout)
        if args.cold:
            row.update(cold(base, case, env))
        if case in pytc:
            ref = pytc[case]
            row["pytc"] = {**ref, "memory_measured_on": "mild input"}
            row["speedup"] = round(ref["median_s"] / row["median_s"], 2)
            row["tracemalloc_fraction_of_pytc"] = round(row["tracemalloc_peak_mb"] / ref["tracemalloc_peak_mb"], 3)
        results.append(row)
    print(json.dumps({"cpus": os.cpu_count(), "fixtures": str(args.fixtures), "cases": results}, indent=1))


if __name__ == "__main__":
    main()
