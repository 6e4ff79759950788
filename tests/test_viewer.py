"""visualize + viewer: report files, and a headless Chromium showing the data through Neuroglancer."""

from __future__ import annotations

import json
import os
import shutil
import time

import numpy as np
import pytest
from conftest import run_cli
from em2exm import viewer


@pytest.fixture
def ingested_run(demo_config, tmp_path):
    assert run_cli("run", str(demo_config), "--only", "ingest-em", "--only", "ingest-exm").code == 0
    store = tmp_path / "store"
    result = run_cli("visualize", "--run", str(store))
    assert result.code == 0, result.stderr
    return store


def test_report_and_state(ingested_run):
    report = ingested_run / "report"
    assert (report / "volumes.png").stat().st_size > 10_000
    assert "![volumes.png](volumes.png)" in (report / "report.md").read_text()
    state = json.loads((report / "neuroglancer_state.json").read_text())
    assert list(state["dimensions"]) == ["x", "y", "z"]
    names = {layer["name"]: layer for layer in state["layers"]}
    assert names["exm:groundtruth"]["type"] == "segmentation"
    assert names["exm"]["source"] == "zarr3://{DATA}/exm.zarr/"
    assert state["dimensions"]["z"][0] == pytest.approx(235e-9 / 16)


@pytest.mark.slow
def test_neuroglancer_shows_the_data_in_headless_chromium(ingested_run, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None or shutil.which("chromedriver") is None:
        pytest.skip("Debian chromium + chromium-driver are not installed (.ci/system-deps.sh installs them)")
    from neuroglancer.webdriver import Webdriver
    from PIL import Image

    os.environ.setdefault("SE_OFFLINE", "true")
    server, ng_viewer = viewer.open_viewer(str(ingested_run))
    try:
        with Webdriver(ng_viewer, headless=True, browser="chrome", browser_binary_path=chromium,
                       window_size=(1000, 800), docker=True, print_logs=False) as driver:
            driver.sync()
            served = server.RequestHandlerClass.served
            deadline = time.monotonic() + 60
            while not any("/exm.zarr/labels/groundtruth/0/c/" in p for p in served) and time.monotonic() < deadline:
                time.sleep(0.5)
            time.sleep(3)
            shot = tmp_path / "neuroglancer.png"
            driver.driver.save_screenshot(str(shot))
    finally:
        server.shutdown()
    assert any("/exm.zarr/0/c/" in p for p in served), "the image chunks were never requested"
    assert any("/exm.zarr/labels/groundtruth/0/c/" in p for p in served), "the label chunks were never requested"
    pixels = np.asarray(Image.open(shot).convert("RGB"))[60:, :]
    colours = np.unique(pixels.reshape(-1, 3), axis=0)
    assert len(colours) > 2000, f"only {len(colours)} colours: the canvas looks blank"
