"""bench/gap_vs_iterations.py without the pipeline: budget splits, rows, store, picture and the sweep loop
(with the ``em2exm run`` subprocess replaced by one writing metrics)."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gap_vs_iterations", REPO / "bench" / "gap_vs_iterations.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = load_bench()

METRICS: dict[str, dict[str, Any]] = {
    "raw": {"ap@0.5": 0.2, "f1@0.5": 0.3, "voi": 3.0, "n_groundtruth": 10},
    "oracle": {"ap@0.5": 0.6, "f1@0.5": 0.7, "voi": 1.0},
    "ccgan": {"ap@0.5": 0.4, "f1@0.5": 0.3, "voi": 2.5},
    "segmatch": {"ap@0.5": 0.7, "f1@0.5": 0.5, "voi": 3.5},
    "intensity": {"ap@0.5": 0.3, "f1@0.5": 0.4, "voi": 2.0},
}


@pytest.mark.parametrize(("k", "epochs", "expected"), [
    (150, (3, 3), (3, 3, 25)),      # the demo's epochs kept
    (600, (3, 3), (3, 3, 100)),     # = configs/demo.yaml
    (100, (3, 3), (2, 2, 25)),      # 6 does not divide 100: the largest multiple of 1:1 that does
    (2, (3, 3), (1, 1, 1)),
    (300, (2, 1), (2, 1, 100)),
    (9, (4, 2), (2, 1, 3)),
    (12, (5, 0), (4, 0, 3)),        # no decay
    (12, (0, 5), (0, 4, 3)),        # decay only
    (1000, (100, 100), (100, 100, 5)),
])
def test_split_budget(k: int, epochs: tuple[int, int], expected: tuple[int, int, int]) -> None:
    assert bench.split_budget(k, *epochs) == expected


@pytest.mark.parametrize("epochs", [(3, 3), (2, 1), (4, 6), (7, 0), (100, 100)])
def test_split_budget_is_exact_and_keeps_the_ratio(epochs: tuple[int, int]) -> None:
    n, nd = epochs
    unit = (n + nd) // math.gcd(n, nd)  # the reduced ratio's epochs: every multiple of it is a valid budget
    for k in range(unit, 50 * unit + 1, unit):
        a, b, c = bench.split_budget(k, n, nd)
        assert (a + b) * c == k and a * nd == b * n and c >= 1


def test_split_budget_refuses() -> None:
    with pytest.raises(ValueError, match="multiple of 2"):
        bench.split_budget(7, 3, 3)
    with pytest.raises(ValueError, match="0 epochs"):
        bench.split_budget(10, 0, 0)


def test_parse_budgets() -> None:
    assert bench.parse_budgets("600, 150,300,150,1200") == [150, 300, 600, 1200]
    for bad in ("", "0,100", "-5"):
        with pytest.raises(ValueError):
            bench.parse_budgets(bad)


def test_build_row() -> None:
    row = bench.build_row(150, (3, 3, 25), METRICS, 12.345, {"ccgan": 150, "segmatch": 150})
    assert row["iterations"] == 150 and (row["n_epochs"], row["n_epochs_decay"], row["iters_per_epoch"]) == (3, 3, 25)
    assert row["seconds"] == 12.3 and row["trained_iterations"] == {"ccgan": 150, "segmatch": 150}
    assert row["bounds"] == {"raw": {"ap@0.5": 0.2, "f1@0.5": 0.3, "voi": 3.0},
                             "oracle": {"ap@0.5": 0.6, "f1@0.5": 0.7, "voi": 1.0}}
    assert list(row["experiments"]) == ["ccgan", "segmatch"]  # seghead absent, raw/oracle/intensity not in here
    ccgan = row["experiments"]["ccgan"]
    assert ccgan["values"] == {"ap@0.5": 0.4, "f1@0.5": 0.3, "voi": 2.5}
    assert ccgan["gap_closed_pct"] == {"ap@0.5": 50.0, "f1@0.5": 0.0, "voi": 25.0}  # VOI: lower is better
    assert row["experiments"]["segmatch"]["gap_closed_pct"] == {"ap@0.5": 125.0, "f1@0.5": 50.0, "voi": -25.0}
    assert row["intensity"] == {"values": {"ap@0.5": 0.3, "f1@0.5": 0.4, "voi": 2.0},
                                "gap_closed_pct": {"ap@0.5": 25.0, "f1@0.5": 25.0, "voi": 50.0}}
    json.dumps(row)


def test_build_row_without_bounds_or_reference() -> None:
    no_oracle = {k: v for k, v in METRICS.items() if k not in ("oracle", "intensity")}
    row = bench.build_row(300, (3, 3, 50), no_oracle, 1.0)
    assert row["intensity"] is None and row["trained_iterations"] == {}
    assert row["experiments"]["ccgan"]["gap_closed_pct"] == {"ap@0.5": None, "f1@0.5": None, "voi": None}
    flat = {**METRICS, "oracle": {**METRICS["oracle"], "ap@0.5": 0.2}, "ccgan": {"ap@0.5": 0.4}}
    closed = bench.build_row(300, (3, 3, 50), flat, 1.0)["experiments"]["ccgan"]
    assert closed == {"values": {"ap@0.5": 0.4}, "gap_closed_pct": {"ap@0.5": None, "f1@0.5": None, "voi": None}}


def test_sweep_store_and_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert bench.sweep_store(None, "/data/runs/demo/") == "/data/runs/demo-gap-vs-iterations"
    assert bench.sweep_store(None, "s3://bucket/runs/demo") == "s3://bucket/runs/demo-gap-vs-iterations"
    monkeypatch.chdir(tmp_path)
    assert bench.sweep_store("sweep", "/data/runs/demo") == str(tmp_path / "sweep")  # relative to the cwd
    config = bench.load_pipeline(str(REPO / "configs" / "demo.yaml"))
    assert bench.sweep_store(None, config.run.store) == str(REPO / "runs" / "demo-gap-vs-iterations")
    command = bench.run_command("c.yaml", "/s", (3, 3, 25), ["ccgan.seed=1"])
    assert command[:5] == [sys.executable, "-m", "em2exm", "run", "c.yaml"]
    assert command[5:] == ["--set", "ccgan.seed=1", "--set", "run.store=/s", "--set", "ccgan.n_epochs=3",
                           "--set", "ccgan.n_epochs_decay=3", "--set", "ccgan.iters_per_epoch=25"]


def write_metrics(store: Path, scale: float) -> None:
    """Metrics as a run leaves them; the CycleGAN experiments' AP grows with ``scale``."""
    for name, values in METRICS.items():
        values = {**values, "ap@0.5": values["ap@0.5"] * scale} if name in ("ccgan", "segmatch") else values
        path = store / "experiments" / name / "evaluation" / "metrics.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


def test_sweep(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    store, png = tmp_path / "sweep", tmp_path / "docs" / "gap.png"
    commands: list[list[str]] = []

    def fake_run(command: list[str]) -> tuple[int, float]:
        commands.append(command)
        write_metrics(store, len(commands))
        return 0, 2.0

    monkeypatch.setattr(bench, "run_streamed", fake_run)
    monkeypatch.setattr(sys, "argv", ["gap_vs_iterations.py", "--config", str(REPO / "configs" / "demo.yaml"),
                                      "--iterations", "600,150", "--store", str(store), "--png", str(png)])
    bench.main()
    document = json.loads(capsys.readouterr().out)
    assert [c[-1] for c in commands] == ["ccgan.iters_per_epoch=25", "ccgan.iters_per_epoch=100"]  # increasing
    assert document["info"]["store"] == str(store) and document["info"]["budgets"] == [150, 600]
    assert document["info"]["config_ccgan"] == {"n_epochs": 3, "n_epochs_decay": 3, "iters_per_epoch": 100}
    rows = document["rows"]
    assert [r["iterations"] for r in rows] == [150, 600]
    assert [r["experiments"]["ccgan"]["gap_closed_pct"]["ap@0.5"] for r in rows] == [50.0, 150.0]
    assert json.loads((store / "gap_vs_iterations.json").read_text()) == document
    picture = (store / "gap_vs_iterations.png").read_bytes()
    assert picture.startswith(b"\x89PNG") and png.read_bytes() == picture


def test_sweep_stops_on_a_failed_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench, "run_streamed", lambda command: (3, 1.0))
    monkeypatch.setattr(sys, "argv", ["gap_vs_iterations.py", "--config", str(REPO / "configs" / "demo.yaml"),
                                      "--iterations", "150", "--store", str(tmp_path / "sweep")])
    with pytest.raises(SystemExit) as exited:
        bench.main()
    assert exited.value.code == 3


def test_bad_budget_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["gap_vs_iterations.py", "--config", str(REPO / "configs" / "demo.yaml"),
                                      "--iterations", "151"])
    with pytest.raises(SystemExit) as exited:
        bench.main()
    assert exited.value.code == 2
