"""Scale benchmark: simulate-exm, seg-infer (light U-Net), decode and evaluate on synthetic volumes of growing size.

For each size a synthetic instance label volume (a jittered-grid Voronoi tessellation, a few percent of its cells
left as background) is written blockwise into an OME-Zarr under ``--store``; ``simulate-exm`` renders the ExM-like
image from it, then ``seg-infer``, ``decode`` and ``evaluate`` run as the backends run them: ``--plan-blocks``,
the ``--blocks START:STOP`` tasks as ``--workers`` parallel processes (``cores / workers`` threads each), then
``--finalise`` (decode runs its passes before it: the serial ``--merge``, the ``--flood START:STOP`` tasks in parallel
and the serial ``--settle``, again while it prints ``again`` (the flood's rounds), the serial ``--number``, the ``--apply START:STOP`` tasks in parallel; evaluate's tasks count id pairs per block, its
finalise sums them and scores).
Each task's wall time and peak RSS (``ru_maxrss`` of the task from ``os.wait4``) are recorded; a stage's
``voxels_per_s`` is the volume's voxels over the stage's whole wall time (plan + parallel blocks + finalise);
decode's ``speedup_with_tasks`` is what ``n`` parallel tasks would give by its split of serial and fanned-out time.
The U-Net (preset ``light``, target ``bc``) is trained once per store for a few iterations on a small volume
of the same kind: quality does not matter, but its maps must give the decoder membranes and seeds to work on.
seg-infer runs at window overlap 0 by default (0.5 runs 7.3x the windows: two cores cannot do 1 G in an hour) and
in its default 128 x 512 x 512 blocks; the other stages use ``--block``. At ``--sweep-size`` decode runs again with
each of ``--sweep-blocks``: its merge against the number of blocks at a fixed volume. Logs: ``<store>/logs``.

This process imports only the standard library (``ru_maxrss`` counts the parent's pages a child starts with);
label writing and the state statistics run in child processes of this script (``_labels``, ``_faces``).

Usage: .venv/bin/python bench/scale.py [--sizes 64M,256M,1G] [--store /tmp/em2exm-scale] [--json PATH]
       [--block 128,256,256] [--infer-block 128,512,512] [--overlap 0] [--workers 2] [--keep]
(README "Scale": ``--json bench/results/scale.json``, 2 cores: about 50 minutes plus 10 of training.)
Sizes: ``8M``, ``64M``, ``256M``, ``1G`` (the preset shapes below), any ``<n>M``/``<n>G`` (a near-cube of 64-voxel
multiples), or ``ZxYxX``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PRESETS = {
    "8M": (128, 256, 256),
    "64M": (256, 512, 512),
    "256M": (512, 512, 1024),
    "1G": (1024, 1024, 1024),
}
VOXEL_NM = (58.75, 37.5, 37.5)  # simulate-exm's default output voxel: the labels are drawn on the output grid
CELL = (16, 40, 40)  # Voronoi cell (z, y, x) in voxels: ~26k voxels per object
EMPTY_FRACTION = 0.05  # cells left as background
DECODE = {"thres1": 0.5, "thres2": 0.02, "thres3": 0.3}
"""bc_watershed thresholds for the briefly trained net (weak foreground, sharp contours; PyTC's defaults leave
most of the volume background): 328 of 362 instances, F1@0.5 0.82 on the 8M volume."""
MIB = 1024.0
DECODE_PASSES = (("merge", False, None), ("flood", True, None), ("settle", False, "flood"), ("number", False, None),
                 ("apply", True, None))
"""decode's passes as its spec lists them: (name, fanned out, the pass it settles: run in rounds until it prints done)."""
"""decode's passes between its blocks and its finalise, fanned out or not (em2exm.specs.decode; a test checks)."""


def parse_size(text: str) -> tuple[int, int, int]:
    """A size name as a (z, y, x) shape."""
    text = text.strip()
    if text in PRESETS:
        return PRESETS[text]
    if "x" in text:
        values = [int(v) for v in text.split("x")]
        if len(values) != 3 or min(values) < 1:
            raise SystemExit(f"size {text!r} is not ZxYxX")
        return values[0], values[1], values[2]
    unit = {"M": 10**6, "G": 10**9}.get(text[-1:].upper())
    if unit is None:
        raise SystemExit(f"size {text!r}: use e.g. 64M, 1G or 128x256x256")
    voxels = float(text[:-1]) * unit
    side = max(64, round(voxels ** (1 / 3) / 64) * 64)
    x = side
    while side * side * x < voxels:
        x += 64
    return side, side, x


def triple(text: str) -> tuple[int, int, int]:
    values = [int(v) for v in text.split(",")]
    if len(values) != 3 or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not Z,Y,X")
    return values[0], values[1], values[2]


# ---------------------------------------------------------------------------------------------------------------
# Child-process helpers (numpy, numba and em2exm are imported only here)


def _voronoi_kernel():
    import numpy as np
    from numba import njit

    @njit(cache=False, nogil=True)
    def label(origin, out, cell, grid, seeds, ids):
        nz, ny, nx = out.shape
        for z in range(nz):
            gz = (origin[0] + z) // cell[0]
            for y in range(ny):
                gy = (origin[1] + y) // cell[1]
                for x in range(nx):
                    gx = (origin[2] + x) // cell[2]
                    best, best_id = np.inf, 0
                    for az in range(max(gz - 1, 0), min(gz + 2, grid[0])):
                        for ay in range(max(gy - 1, 0), min(gy + 2, grid[1])):
                            for ax in range(max(gx - 1, 0), min(gx + 2, grid[2])):
                                k = (az * grid[1] + ay) * grid[2] + ax
                                dz = (origin[0] + z + 0.5 - seeds[k, 0]) / cell[0]
                                dy = (origin[1] + y + 0.5 - seeds[k, 1]) / cell[1]
                                dx = (origin[2] + x + 0.5 - seeds[k, 2]) / cell[2]
                                d = dz * dz + dy * dy + dx * dx
                                if d < best:
                                    best, best_id = d, ids[k]
                    out[z, y, x] = best_id

    return label


def synthetic_cells(shape: tuple[int, int, int], seed: int):
    """Seed positions (voxel units) and ids of the tessellation's cells (id 0: a background cell)."""
    import numpy as np

    grid = tuple(math.ceil(s / c) for s, c in zip(shape, CELL))
    rng = np.random.default_rng(seed)
    index = np.stack(np.unravel_index(np.arange(math.prod(grid)), grid), axis=1).astype(np.float64)
    seeds = (index + 0.5 + 0.8 * (rng.random(index.shape) - 0.5)) * np.array(CELL, np.float64)
    ids = np.arange(1, len(index) + 1, dtype=np.uint32)
    ids[rng.random(len(index)) < EMPTY_FRACTION] = 0
    return np.array(grid, np.int64), seeds, ids


def helper_labels(argv: list[str]) -> None:
    """``_labels URL Z,Y,X BZ,BY,BX SEED create|START:STOP``: create the label image or write its blocks."""
    import numpy as np
    from em2exm import ome
    from em2exm.tiling import BlockGrid, chunks_for

    url, shape, block, seed, what = argv[0], triple(argv[1]), triple(argv[2]), int(argv[3]), argv[4]
    if what == "create":
        ome.create_image(url, shape, np.uint32, VOXEL_NM, chunks=chunks_for(block, shape),
                         provenance={"stage": "bench/scale.py synthetic labels", "seed": seed})
        return
    start, stop = (int(v) for v in what.split(":"))
    grid, seeds, ids = synthetic_cells(shape, seed)
    kernel = _voronoi_kernel()
    array = ome.open_image(url, mode="r+").array
    for box in BlockGrid(shape, block).cores()[start:stop]:
        out = np.zeros(tuple(s.stop - s.start for s in box), np.uint32)
        kernel(np.array([s.start for s in box], np.int64), out, np.array(CELL, np.int64), grid, seeds, ids)
        array[box] = out


def helper_faces(argv: list[str]) -> None:
    """``_faces LABELS_URL``: sizes of decode's per-block stitching state and of its passes' parts (printed as JSON)."""
    import numpy as np

    faces = Path(argv[0]) / ".faces"
    blocks = sorted(faces.glob("*.npz"))
    border = []
    for path in sorted((faces / "border").glob("*.npz")):
        with np.load(path) as data:
            border.append(int(data["border_index"].size) if "border_index" in data else 0)
    sizes = [p.stat().st_size for p in blocks]
    parts = {kind.name: sum(p.stat().st_size for p in kind.glob("*.npz")) for kind in faces.iterdir() if kind.is_dir()}
    print(json.dumps({
        "state_objects": len(blocks), "state_bytes": sum(sizes), "state_bytes_max": max(sizes, default=0),
        "part_bytes": parts, "border_voxels": sum(border), "border_voxels_max": max(border, default=0),
    }))


# ---------------------------------------------------------------------------------------------------------------
# Running and measuring tasks (standard library only)


@dataclass
class Task:
    """One process: its command, wall time, peak RSS and CPU time."""

    name: str
    cmd: list[str]
    wall_s: float = 0.0
    rss_mib: float = 0.0
    cpu_s: float = 0.0
    start_s: float = 0.0
    code: int = 0
    stdout: str = ""
    round: int = 0
    """Which round of a pass run in rounds (decode's flood) the task belongs to."""


@dataclass
class Runner:
    """Runs tasks with ``workers`` at a time and logs each under ``logs``."""

    logs: Path
    cwd: Path
    run_id: str
    cores: int
    workers: int
    clock0: float = field(default_factory=time.perf_counter)

    def env(self, threads: int) -> dict[str, str]:
        env = dict(os.environ)
        for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
            env[key] = str(threads)
        env["EM2EXM_RUN_ID"] = self.run_id
        return env

    def run(self, tasks: list[Task], parallel: bool) -> list[Task]:
        """Run ``tasks`` (``workers`` at a time when ``parallel``, else one by one with every core); exit on failure."""
        width = self.workers if parallel else 1
        env = self.env(max(1, self.cores // width))
        pending = list(tasks)
        running: dict[int, tuple[Task, subprocess.Popen, Path, Path]] = {}
        self.logs.mkdir(parents=True, exist_ok=True)
        try:
            self._loop(pending, running, width, env)
        finally:  # a failed task, Ctrl-C or SIGTERM: no orphaned stage processes
            for _, process, _, _ in running.values():
                process.kill()
                process.wait()
        return tasks

    def _loop(self, pending: list[Task], running: dict, width: int, env: dict[str, str]) -> None:
        while pending or running:
            while pending and len(running) < width:
                task = pending.pop(0)
                logfile = self.logs / f"{task.name.replace('/', '_').replace(':', '-')}.log"
                out = logfile.with_suffix(".out")
                with open(logfile, "wb") as err, open(out, "wb") as std:
                    process = subprocess.Popen(task.cmd, stdout=std, stderr=err, env=env, cwd=self.cwd)
                task.start_s = time.perf_counter()
                running[process.pid] = (task, process, out, logfile)
            pid, status, usage = os.wait4(-1, 0)
            if pid not in running:
                continue
            task, process, out, logfile = running.pop(pid)
            task.wall_s = time.perf_counter() - task.start_s
            task.start_s -= self.clock0
            task.code = process.returncode = os.waitstatus_to_exitcode(status)
            task.rss_mib = usage.ru_maxrss / MIB  # KiB on Linux
            task.cpu_s = usage.ru_utime + usage.ru_stime
            task.stdout = out.read_text()
            if task.code != 0:
                tail = logfile.read_text()[-3000:]
                raise SystemExit(f"{task.name} failed (exit {task.code}); log {logfile}:\n{tail}")


def em2exm(stage: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "em2exm", stage, *args]


def helper(name: str, *args: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), name, *args]


def span(tasks: list[Task]) -> float:
    """Wall time from the first task's start to the last one's end, summed over rounds."""
    rounds: dict[int, list[Task]] = {}
    for t in tasks:
        rounds.setdefault(t.round, []).append(t)
    return sum(max(t.start_s + t.wall_s for t in ts) - min(t.start_s for t in ts) for ts in rounds.values())


def summarise(voxels: int, phases: dict[str, list[Task]], blocks: int) -> dict:
    """One stage's row: wall time over every phase, voxels per second, peak RSS per task."""
    wall = sum(span(tasks) for tasks in phases.values())
    row: dict = {"voxels": voxels, "wall_s": round(wall, 2), "voxels_per_s": round(voxels / wall), "blocks": blocks,
                 "tasks": sum(len(tasks) for tasks in phases.values()),
                 "cpu_s": round(sum(t.cpu_s for tasks in phases.values() for t in tasks), 1)}
    row["voxels_per_cpu_s"] = round(voxels / max(row["cpu_s"], 1e-9))
    work = phases.get("blocks", [])
    if work:
        rss = [t.rss_mib for t in work]
        row.update(block_tasks=len(work), blocks_wall_s=round(span(work), 2),
                   task_rss_mib_max=round(max(rss)), task_rss_mib_median=round(statistics.median(rss)),
                   task_wall_s_median=round(statistics.median(t.wall_s for t in work), 2))
    for phase, tasks in phases.items():
        if phase in ("plan", "blocks") or not tasks:
            continue
        if len(tasks) > 1 and not any(name == phase and settles for name, _, settles in DECODE_PASSES) or any(
                name == phase and fanned for name, fanned, _ in DECODE_PASSES):
            row.update({f"{phase}_wall_s": round(span(tasks), 2),
                        f"{phase}_task_rss_mib_max": round(max(t.rss_mib for t in tasks))})
        else:  # one task (a settle pass: one per round)
            row.update({f"{phase}_s": round(sum(t.wall_s for t in tasks), 2),
                        f"{phase}_rss_mib": round(max(t.rss_mib for t in tasks))})
    return row


def blockwise(runner: Runner, stage: str, args: list[str], per_task: int, tag: str = "",
              passes: tuple[tuple[str, bool, str | None], ...] = ()) -> dict[str, list[Task]]:
    """``--plan-blocks``, the block tasks in parallel, each pass (serial, or its tasks in parallel; a settle pass
    until it prints ``done``, each ``again`` after another round of the pass it settles), ``--finalise``."""
    tag = tag or stage
    plan = runner.run([Task(f"{tag}-plan", em2exm(stage, *args, "--plan-blocks", str(per_task)))], parallel=False)
    ranges = json.loads(plan[0].stdout.strip().splitlines()[-1])
    phases = {"plan": plan}
    phases["blocks"] = runner.run([Task(f"{tag}-{r}", em2exm(stage, *args, "--blocks", r)) for r in ranges], parallel=True)
    for name, fanned, settles in passes:
        if fanned:
            phases[name] = runner.run([Task(f"{tag}-{name}-{r}", em2exm(stage, *args, f"--{name}", r)) for r in ranges],
                                      parallel=True)
        else:
            phases[name] = runner.run([Task(f"{tag}-{name}", em2exm(stage, *args, f"--{name}"))], parallel=False)
        while settles and phases[name][-1].stdout.strip().endswith("again"):
            again = len(phases[name])
            phases[settles] += runner.run([Task(f"{tag}-{settles}{again}-{r}", em2exm(stage, *args, f"--{settles}", r),
                                                round=again) for r in ranges], parallel=True)
            phases[name] += runner.run([Task(f"{tag}-{name}{again}", em2exm(stage, *args, f"--{name}"), round=again)],
                                       parallel=False)
    phases["finalise"] = runner.run([Task(f"{tag}-finalise", em2exm(stage, *args, "--finalise"))], parallel=False)
    return phases


def parallel_share(phases: dict[str, list[Task]], passes: tuple[tuple[str, bool, str | None], ...]) -> dict:
    """The serial phases' wall time, the fanned-out tasks' summed wall time, the longest task of each fanned-out phase,
    and the speed-up over one task at a time that ``n`` parallel tasks would give by that split (Amdahl, where each
    round of a fanned-out phase takes at least its longest task)."""
    fanned_phases = [name for name in ("blocks", *(n for n, fanned, _ in passes if fanned)) if phases.get(name)]
    serial = sum(t.wall_s for name, tasks in phases.items() if name not in fanned_phases for t in tasks)
    rounds: dict[tuple[str, int], list[float]] = {}
    for name in fanned_phases:
        for t in phases[name]:
            rounds.setdefault((name, t.round), []).append(t.wall_s)
    work = {key: sum(walls) for key, walls in rounds.items()}
    longest = {name: max(t.wall_s for t in phases[name]) for name in fanned_phases}
    total = serial + sum(work.values())
    return {"serial_s": round(serial, 2), "fanned_task_s": round(sum(work.values()), 2),
            "longest_task_s": {name: round(v, 2) for name, v in longest.items()},
            "speedup_with_tasks": {n: round(total / (serial + sum(max(max(rounds[k]), work[k] / n) for k in work)), 2)
                                   for n in (2, 8, 32, 128)}}


def count_blocks(shape: tuple[int, ...], block: tuple[int, ...]) -> int:
    return math.prod(math.ceil(s / b) for s, b in zip(shape, block))


def count_objects(path: Path) -> int:
    """Files under ``path`` (objects in an object store)."""
    return sum(len(files) for _, _, files in os.walk(path))


def marker(path: Path) -> dict:
    return json.loads((path / ".em2exm_complete.json").read_text())


# ---------------------------------------------------------------------------------------------------------------
# The benchmark


def train_model(runner: Runner, store: Path, args: argparse.Namespace) -> Path:
    """A light bc U-Net trained briefly on a small synthetic volume (once per store)."""
    model = store / "model"
    if (model / ".em2exm_complete.json").exists():
        return model
    shape = args.train_shape
    labels, sim, dataset = store / "train" / "labels.zarr", store / "train" / "sim.zarr", store / "train" / "ds"
    runner.run([Task("train-labels-create", helper("_labels", str(labels), ",".join(map(str, shape)),
                                                   ",".join(map(str, shape)), "1", "create"))], parallel=False)
    runner.run([Task("train-labels", helper("_labels", str(labels), ",".join(map(str, shape)),
                                            ",".join(map(str, shape)), "1", "0:1"))], parallel=False)
    block = [min(b, -(-s // t) * t) for b, s, t in zip(args.block, shape, (16, 32, 32))]
    steps = [
        ("simulate-exm", "--labels", str(labels), "--output", str(sim), "--params", json.dumps({"block": block})),
        ("build-dataset", "--image", str(sim), "--labels", str(sim / "labels" / "groundtruth"), "--output", str(dataset),
         "--params", json.dumps({"split_axis": "y", "val_fraction": 0.5})),
        ("seg-train", "--dataset", str(dataset), "--output", str(model), "--params", json.dumps({
            "preset": "light", "target": "bc", "patch": list(args.patch), "batch": 2, "lr": 3e-3,
            "iterations": args.train_iterations, "val_interval": args.train_iterations, "val_max_patches": 2,
            "log_interval": max(1, args.train_iterations // 5), "checkpoint_interval": args.train_iterations,
            "device": "cpu", "augment": {"elastic": False}})),
    ]
    for step in steps:
        runner.run([Task(f"train-{step[0]}", em2exm(*step))], parallel=False)
    return model


def decode_stage(runner: Runner, pred: Path, name: str, block: tuple[int, int, int], per: int, voxels: int,
                 shape: tuple[int, int, int]) -> dict:
    """decode (plan, blocks, its passes, finalise) into ``labels/<name>``, with the size of its stitching state."""
    args = ["--predictions", str(pred), "--name", name, "--params", json.dumps({"block": list(block), **DECODE})]
    phases = blockwise(runner, "decode", args, per, tag=name, passes=DECODE_PASSES)
    row = summarise(voxels, phases, count_blocks(shape, block))
    labels = pred / "labels" / name
    row["block"] = list(block)
    row.update(parallel_share(phases, DECODE_PASSES))
    row["flood_rounds"] = len(phases["settle"])
    row["instances"] = marker(labels).get("instances")
    row["fragments"] = sum(json.loads(p.read_text()).get("fragments", 0) for p in (labels / ".em2exm_blocks").glob("*")
                           if p.is_file())
    row.update(json.loads(runner.run([Task(f"{name}-state", helper("_faces", str(labels)))], parallel=False)[0].stdout))
    return row


def run_size(size: str, args: argparse.Namespace, model: Path, runner_for) -> dict:
    """Every stage over one synthetic volume; the volume is removed afterwards unless --keep."""
    shape = parse_size(size)
    voxels = math.prod(shape)
    root = args.store / size
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    runner: Runner = runner_for(args.store / "logs" / size, f"scale-{size}-{os.getpid()}")
    per = args.per_task
    labels, sim, pred, evaluation = root / "labels.zarr", root / "sim.zarr", root / "pred.zarr", root / "evaluation"
    text_shape, text_block = ",".join(map(str, shape)), ",".join(map(str, args.block))
    stages: dict[str, dict] = {}
    started, load = time.perf_counter(), [round(v, 2) for v in os.getloadavg()]

    n_blocks = count_blocks(shape, args.block)
    log(f"{size}: {shape} = {voxels:,} voxels; blocks {args.block} ({n_blocks}), seg-infer {args.infer_block} "
        f"({count_blocks(shape, args.infer_block)}), evaluate {args.eval_block}")
    create = runner.run([Task("labels-create", helper("_labels", str(labels), text_shape, text_block, "0", "create"))],
                        parallel=False)
    write = runner.run([Task(f"labels-{r}", helper("_labels", str(labels), text_shape, text_block, "0", r))
                        for r in ranges(n_blocks, per)], parallel=True)
    stages["labels"] = summarise(voxels, {"plan": create, "blocks": write}, n_blocks)
    log(f"  labels {stages['labels']['wall_s']} s")

    simulate = ["--labels", str(labels), "--output", str(sim), "--params", json.dumps({"block": list(args.block)})]
    stages["simulate-exm"] = summarise(voxels, blockwise(runner, "simulate-exm", simulate, per), n_blocks)
    log(f"  simulate-exm {stages['simulate-exm']['wall_s']} s")

    infer = {"block": list(args.infer_block), "window": list(args.window), "overlap": args.overlap, "device": "cpu",
             "batch_size": 2}
    seg = ["--checkpoint", str(model), "--image", str(sim), "--output", str(pred), "--params", json.dumps(infer)]
    stages["seg-infer"] = summarise(voxels, blockwise(runner, "seg-infer", seg, per),
                                    count_blocks(shape, args.infer_block))
    log(f"  seg-infer {stages['seg-infer']['wall_s']} s")

    stages["decode"] = decode_stage(runner, pred, "instances", args.block, per, voxels, shape)
    row = stages["decode"]
    log(f"  decode {row['wall_s']} s (merge {row['merge_s']} s, {row['merge_rss_mib']} MiB; flood {row['flood_wall_s']} s in "
        f"{row['flood_rounds']} rounds, {row['flood_task_rss_mib_max']} MiB per task; number {row['number_s']} s, {row['number_rss_mib']} MiB; "
        f"apply {row['apply_wall_s']} s; {row['instances']} instances)")

    instances = pred / "labels" / "instances"
    score = ["--segmentation", str(instances), "--groundtruth", str(sim / "labels" / "groundtruth"),
             "--output", str(evaluation), "--params", json.dumps({"block": list(args.eval_block)})]
    stages["evaluate"] = summarise(voxels, blockwise(runner, "evaluate", score, per), count_blocks(shape, args.eval_block))
    metrics = json.loads((evaluation / "metrics.json").read_text())
    log(f"  evaluate {stages['evaluate']['wall_s']} s")

    sweep = []
    if size == args.sweep_size:
        for block in args.sweep_blocks:
            sweep.append(decode_stage(runner, pred, "sweep_" + "x".join(map(str, block)), block, per, voxels, shape))
            log(f"  decode sweep {block}: merge {sweep[-1]['merge_s']} s, {sweep[-1]['merge_rss_mib']} MiB")

    outputs = {"labels": labels / "0", "simulate-exm": sim, "seg-infer": pred / "0", "decode": instances}
    result = {
        "size": size, "shape": list(shape), "voxels": voxels, "total_s": round(time.perf_counter() - started, 1),
        "loadavg_start": load, "loadavg_end": [round(v, 2) for v in os.getloadavg()],
        "stages": stages, "decode_block_sweep": sweep,
        "objects_written": {name: count_objects(path) for name, path in outputs.items()},
        "metrics": {k: metrics.get(k) for k in ("n_segmentation", "n_groundtruth", "voi", "adapted_rand_skimage",
                                                "ap@0.5", "ap")},
        "disk_bytes": sum(p.stat().st_size for p in root.rglob("*") if p.is_file()),
    }
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return result


def ranges(count: int, per: int) -> list[str]:
    return [f"{s}:{min(s + per, count)}" for s in range(0, count, per)]


def floors(runner: Runner) -> dict[str, float]:
    """Peak RSS of each stage's process doing nothing but parse --help (imports and interpreter)."""
    tasks = [Task(f"floor-{s}", em2exm(s, "--help")) for s in ("simulate-exm", "seg-infer", "decode", "evaluate")]
    tasks.append(Task("floor-python", [sys.executable, "-c", "pass"]))
    runner.run(tasks, parallel=False)
    return {t.name.removeprefix("floor-"): round(t.rss_mib) for t in tasks}


def scaling(sizes: list[dict]) -> dict:
    """Per stage, the largest size against the smallest: voxels, wall time per voxel, CPU time per voxel and
    peak RSS of a block task and of the serial phases (1.0: flat memory, linear time)."""
    if len(sizes) < 2:
        return {}
    small, large = sizes[0], sizes[-1]
    out = {"voxels": round(large["voxels"] / small["voxels"], 2)}
    for stage, row in large["stages"].items():
        base = small["stages"][stage]
        ratios = {"wall_per_voxel": round(base["voxels_per_s"] / row["voxels_per_s"], 2),
                  "cpu_per_voxel": round(base["voxels_per_cpu_s"] / row["voxels_per_cpu_s"], 2)}
        for key in ("task_rss_mib_max", "finalise_rss_mib", "finalise_s", "merge_rss_mib", "merge_s", "number_rss_mib",
                    "number_s", "flood_task_rss_mib_max"):
            if row.get(key) and base.get(key):
                ratios[key] = round(row[key] / base[key], 2)
        out[stage] = ratios
    return out


def markdown(result: dict) -> str:
    """The README's table: per stage and size, throughput, wall time and peak RSS per task."""
    sizes = result["sizes"]
    head = "| stage | " + " | ".join(f"{s['size']} ({s['shape'][0]}x{s['shape'][1]}x{s['shape'][2]})"
                                     for s in sizes) + " |"
    lines = [head, "|---|" + "---|" * len(sizes)]
    for stage in sizes[0]["stages"]:
        cells = []
        for size in sizes:
            row = size["stages"][stage]
            rss = f"block task {row['task_rss_mib_max']} MiB"
            final = f", finalise {row['finalise_s']:.0f} s / {row['finalise_rss_mib']} MiB" if "finalise_s" in row else ""
            if "merge_s" in row:
                final = (f", merge {row['merge_s']:.0f} s / {row['merge_rss_mib']} MiB, flood task "
                         f"{row['flood_task_rss_mib_max']} MiB, number {row['number_s']:.0f} s / "
                         f"{row['number_rss_mib']} MiB") + final
            cells.append(f"{row['voxels_per_s'] / 1e6:.2f} M/s, {row['wall_s']:.0f} s ({row['tasks']} tasks); "
                         f"{rss}{final}")
        lines.append(f"| {stage} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine() -> dict:
    info: dict[str, object] = {"cores": os.cpu_count(), "platform": platform.platform()}
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        info["cpu"] = next(line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name"))
        meminfo = Path("/proc/meminfo").read_text().split()
        info["memory_gib"] = round(int(meminfo[meminfo.index("MemTotal:") + 1]) / 2**20, 1)
    except (OSError, StopIteration, ValueError):
        pass
    return info


def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if argv and argv[0] in ("_labels", "_faces"):
        {"_labels": helper_labels, "_faces": helper_faces}[argv[0]](argv[1:])
        return {}
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="64M,256M,1G", help="comma-separated sizes (default 64M,256M,1G)")
    parser.add_argument("--store", type=Path, default=Path("/tmp/em2exm-scale"), help="work folder (not the repo)")
    parser.add_argument("--json", type=Path, help="also write the result here")
    parser.add_argument("--block", type=triple, default=(128, 256, 256),
                        help="block Z,Y,X of the labels, simulate-exm and decode (default 128,256,256)")
    parser.add_argument("--infer-block", type=triple, default=(128, 512, 512),
                        help="seg-infer's block (default 128,512,512, its default: fewer windows run twice)")
    parser.add_argument("--eval-block", type=triple, default=(128, 512, 512), help="evaluate's block (its default)")
    parser.add_argument("--per-task", type=int, default=1, help="blocks per task (--plan-blocks N)")
    parser.add_argument("--workers", type=int, default=2, help="block tasks at a time")
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1, help="threads shared by the running tasks")
    parser.add_argument("--window", type=triple, default=(17, 129, 129), help="seg-infer window (the training patch)")
    parser.add_argument("--overlap", type=float, default=0.0,
                        help="seg-infer window overlap (default 0: 2 cores cannot run the default 0.5 at 1G in an hour)")
    parser.add_argument("--sweep-size", default="256M", help="size at which decode is rerun with --sweep-blocks")
    parser.add_argument("--sweep-blocks", type=lambda t: [triple(b) for b in t.split(";") if b],
                        default=[(64, 128, 128), (128, 512, 512)],
                        help="decode blocks of the sweep, 'Z,Y,X;Z,Y,X' (merge against the number of blocks)")
    parser.add_argument("--patch", type=triple, default=(17, 129, 129), help="training patch")
    parser.add_argument("--train-shape", type=triple, default=(64, 288, 256),
                        help="training volume (split in halves along y: train and validation)")
    parser.add_argument("--train-iterations", type=int, default=150, help="training steps of the light U-Net")
    parser.add_argument("--commit", help="commit to record (default: git HEAD of the repository holding this script)")
    parser.add_argument("--keep", action="store_true", help="keep each size's volumes (default: removed after it)")
    args = parser.parse_args(argv)
    args.store = args.store.resolve()
    if args.store == REPO or REPO in args.store.parents:
        raise SystemExit(f"--store {args.store} is inside the repository; use a folder outside it")
    args.store.mkdir(parents=True, exist_ok=True)

    def runner_for(logs: Path, run_id: str) -> Runner:
        return Runner(logs, args.store, run_id, args.cores, args.workers)

    setup = runner_for(args.store / "logs", f"scale-setup-{os.getpid()}")
    started = time.perf_counter()
    model = train_model(setup, args.store, args)
    log(f"model ready ({time.perf_counter() - started:.0f} s)")
    result: dict = {
        "bench": "scale", "commit": args.commit or git_commit(), "date": time.strftime("%Y-%m-%d"), "machine": machine(),
        "settings": {"block": list(args.block), "infer_block": list(args.infer_block),
                     "eval_block": list(args.eval_block), "per_task": args.per_task,
                     "workers": args.workers, "threads_per_task": max(1, args.cores // args.workers),
                     "net": "light U-Net (16, 24, 32, 48, 64), target bc", "window": list(args.window),
                     "overlap": args.overlap, "train_iterations": args.train_iterations, "cell": list(CELL),
                     "decode": {"mode": "bc_watershed", **DECODE}, "voxel_nm": list(VOXEL_NM)},
        "rss_floor_mib": floors(setup),
        "sizes": [],
    }
    for size in args.sizes.split(","):
        result["sizes"].append(run_size(size, args, model, runner_for))
        result["scaling"] = scaling(result["sizes"])
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    log(markdown(result))
    return result


if __name__ == "__main__":
    main()
