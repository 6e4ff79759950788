"""Helpers of the backend tests: small pipeline runs and comparing what two runs wrote."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import zarr
from conftest import DEMO_DATA, REPO, CliResult, run_cli
from em2exm.cli import main as em2exm_main
from em2exm.runner import STEP_RECORD
from em2exm.runrecord import RECORDS

INGEST_ONLY = ("--set", "experiments.names=[]")
"""ingest-em, ingest-exm and visualize: the whole chain in seconds."""

ONE_EXPERIMENT = (
    "--set", "experiments.names=[raw]",
    "--set", "seg.preset=light", "--set", "seg.patch=[5,17,17]", "--set", "seg.batch=1",
    "--set", "seg.iterations=20", "--set", "seg.val_interval=10", "--set", "seg.val_max_patches=2",
    "--set", "infer.window=[17,65,65]", "--set", "infer.overlap=0.25", "--set", "infer.device=cpu",
    "--set", "infer.block=[16,64,64]", "--set", "decode.block=[16,64,64]",
)
"""One segmenter trained briefly on CPU, with blockwise inference and decoding in several blocks each."""


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> CliResult:
    """Run ``em2exm ARGS`` in this process (no interpreter start-up) and capture its output."""
    code = em2exm_main(list(args))
    captured = capsys.readouterr()
    return CliResult(code, captured.out, captured.err)


def pipeline_config(folder: Path, store: Path, extra: str = "") -> Path:
    """The demo config in ``folder`` writing to ``store`` (``extra`` YAML appended)."""
    text = (REPO / "configs" / "demo.yaml").read_text()
    text = text.replace("../data/demo", str(DEMO_DATA)).replace("../runs/demo", str(store))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "pipeline.yaml"
    path.write_text(text + extra)
    return path


def local_run(folder: Path, sets: tuple[str, ...]) -> Path:
    """Run the pipeline with ``em2exm run`` into ``folder/store``; return the store."""
    store = folder / "store"
    result = run_cli("run", str(pipeline_config(folder, store)), *sets)
    assert result.code == 0, result.stderr[-3000:]
    return store


@pytest.fixture(scope="session", name="ingest_only_reference")
def ingest_only_reference_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The store of ``em2exm run`` with INGEST_ONLY, shared by the backend tests."""
    return local_run(tmp_path_factory.mktemp("reference-ingest"), INGEST_ONLY)


@pytest.fixture(scope="session", name="one_experiment_reference")
def one_experiment_reference_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The store of ``em2exm run`` with ONE_EXPERIMENT, shared by the backend tests."""
    return local_run(tmp_path_factory.mktemp("reference-experiment"), ONE_EXPERIMENT)


def _arrays(store: Path) -> dict[str, Path]:
    found = {}
    for meta in store.rglob("zarr.json"):
        if json.loads(meta.read_text()).get("node_type") == "array":
            found[str(meta.parent.relative_to(store))] = meta.parent
    return found


def assert_same_outputs(expected: Path, actual: Path) -> None:
    """Both stores hold the same files (TensorBoard's host-named logs and the local runner's step and run records
    aside) and every zarr array the same data."""
    def files(store: Path) -> set[str]:
        return {str(p.relative_to(store)) for p in store.rglob("*")
                if p.is_file() and "tfevents" not in p.name and p.name != STEP_RECORD
                and RECORDS not in p.relative_to(store).parts}

    assert files(actual) == files(expected)
    arrays = _arrays(expected)
    assert arrays, "the run wrote no arrays"
    for relative, path in arrays.items():
        np.testing.assert_array_equal(zarr.open_array(str(actual / relative), mode="r")[...], zarr.open_array(str(path), mode="r")[...], err_msg=relative)
