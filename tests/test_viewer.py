"""visualize + viewer: report files, and a headless Chromium showing the data through Neuroglancer."""

from __future__ import annotations

import json
import os
import shutil
import time

import numpy as np
import pytest
from em2exm import ngstate, viewer
from fakerun import CHANNELS, fake_run_fixture  # noqa: F401 - the session fixture


def test_report_and_state(fake_run):
    report = fake_run.store / "report"
    assert (report / "volumes.png").stat().st_size > 10_000
    assert "![volumes.png](volumes.png)" in (report / "report.md").read_text()
    state = json.loads((report / "neuroglancer_state.json").read_text())
    assert list(state["dimensions"]) == ["x", "y", "z"]
    names = {layer["name"]: layer for layer in state["layers"]}
    assert names["exm:groundtruth"]["type"] == "segmentation"
    assert names["exm"]["source"] == "zarr3://{DATA}/exm.zarr/"
    assert state["dimensions"]["z"][0] == pytest.approx(235e-9 / 16)
    assert visible(state) == BEST_VIEW, "the saved state opens on what em2exm view shows"
    target, source = (panel["layers"] for panel in state["layout"]["children"])
    assert target[:3] == ["exm", "exm:groundtruth", "raw/predictions:instances"] and source == ["em", "em:groundtruth"]
    assert {"raw/predictions:foreground", "raw/predictions:contour"} <= set(names), "maps split into named channels"


def visible(state: dict) -> set[str]:
    return {layer["name"] for layer in state["layers"] if layer.get("visible", True) and not layer.get("archived")}


BEST_VIEW = {"exm", "exm:groundtruth", "raw/predictions:instances"}
"""What the fake run opens on: raw is its best experiment (the oracle is a ceiling, intensity was not scored)."""


def test_view_opens_on_the_exm_image_and_the_best_experiment(fake_run):
    server = viewer.serve(str(fake_run.store))
    try:
        state = viewer.load_state(server, str(fake_run.store))
    finally:
        server.shutdown()
    layers = {layer["name"]: layer for layer in state["layers"]}
    assert visible(state) == BEST_VIEW
    maps = [name for name in layers if "/predictions:" in name and layers[name]["type"] == "image"]
    assert sorted(maps) == sorted(f"{e}/predictions:{c}" for e in ("raw", "oracle", "intensity") for c in CHANNELS)
    for experiment in ("raw", "oracle", "intensity"):
        for index, channel in enumerate(CHANNELS):
            layer = layers[f"{experiment}/predictions:{channel}"]
            assert layer["localPosition"] == [index + 0.5] and f"invlerp {channel}(" in layer["shader"]
            assert layer["opacity"] < 1 and "emitRGBA" in layer["shader"]
    target, source = (panel["layers"] for panel in state["layout"]["children"])
    assert target[:5] == ["exm", "exm:groundtruth", "raw/predictions:instances", "raw/predictions:foreground",
                          "raw/predictions:contour"]
    assert source == ["em", "em:groundtruth"]
    archived = {name for name, layer in layers.items() if layer.get("archived")}
    assert archived == {name for name in layers if name.startswith(("oracle/", "intensity/"))}
    again = ngstate.arrange(state, "raw", viewer.map_channels(str(fake_run.store), state))
    assert again == state, "arranging an arranged state changes nothing"


@pytest.mark.slow
def test_neuroglancer_shows_the_data_in_headless_chromium(fake_run, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None or shutil.which("chromedriver") is None:
        pytest.skip("Debian chromium + chromium-driver are not installed (.ci/system-deps.sh installs them)")
    from neuroglancer.webdriver import Webdriver
    from PIL import Image

    os.environ.setdefault("SE_OFFLINE", "true")
    server, ng_viewer = viewer.open_viewer(str(fake_run.store))
    drawn = ("/exm.zarr/0/c/", "/exm.zarr/labels/groundtruth/0/c/", "/raw/predictions.zarr/labels/instances/0/c/")
    try:
        with Webdriver(ng_viewer, headless=True, browser="chrome", browser_binary_path=chromium,
                       window_size=(1000, 800), docker=True, print_logs=False) as driver:
            driver.sync()
            served = server.RequestHandlerClass.served
            deadline = time.monotonic() + 60
            while not all(any(d in p for p in served) for d in drawn) and time.monotonic() < deadline:
                time.sleep(0.5)
            time.sleep(3)
            shot = tmp_path / "neuroglancer.png"
            driver.driver.save_screenshot(str(shot))
            shown = visible(ng_viewer.state.to_json())
    finally:
        server.shutdown()
    assert shown == BEST_VIEW, "the browser shows other layers than the ExM image, its ground truth and the best instances"
    for chunks in drawn:
        assert any(chunks in p for p in served), f"{chunks} were never requested"
    hidden = [p for p in served if "/c/" in p and not any(d in p for d in drawn)]
    assert not hidden, f"hidden layers were drawn: {hidden[:3]}"
    pixels = np.asarray(Image.open(shot).convert("RGB"))[60:, :]
    colours = np.unique(pixels.reshape(-1, 3), axis=0)
    assert len(colours) > 2000, f"only {len(colours)} colours: the canvas looks blank"
