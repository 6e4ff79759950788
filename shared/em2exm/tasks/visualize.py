"""visualize: PNG previews, loss curves, a Neuroglancer state and report.md for a run store.

Works on whatever the run holds so far: ingested volumes, translated EM, predictions, instances,
training logs and metrics of each experiment under ``experiments/<name>/``.
"""

from __future__ import annotations

import json
import logging

import numpy as np

from em2exm import commit, ome, outputs, previews, storage
from em2exm.invocation import Invocation
from em2exm.layout import RunLayout
from em2exm.ngstate import Layer, arrange, viewer_state
from em2exm.ranking import best_experiment
from em2exm.report import read_metrics, write_report
from em2exm.specs.visualize import VisualizeParams

log = logging.getLogger("em2exm.visualize")
DATA_PLACEHOLDER = "{DATA}"
PRODUCTS = ("report.md", "neuroglancer_state.json", "volumes.png", "*_prediction.png", "losses_*.png")


def _mid(volume: ome.Volume, channel: int | None = None) -> np.ndarray:
    z = volume.spatial_shape[0] // 2
    return np.asarray(volume.array[channel, z] if channel is not None else volume.array[z])


def _try_image(url: str) -> ome.Volume | None:
    return ome.open_image(url) if commit.is_complete(url) or storage.exists(storage.join(url, "zarr.json")) else None


def _relative(run: str, url: str) -> str:
    return url[len(storage.normalise(run)) + 1 :]


def _layer_url(run: str, url: str) -> str:
    return url if storage.protocol_of(run) != "file" else f"{DATA_PLACEHOLDER}/{_relative(run, url)}"


def collect(run: str) -> dict[str, ome.Volume]:
    """The volumes present in a run store, by a display name."""
    at, found = RunLayout(run), {}
    images = [("em", at.em)] + [(f"transferred/{n}", at.transferred(n)) for n in at.transferred_names()] + [("exm", at.exm)]
    for name, url in images:
        volume = _try_image(url)
        if volume is not None:
            found[name] = volume
    for experiment in at.experiments():
        volume = _try_image(at.predictions(experiment))
        if volume is not None:
            found[f"{experiment}/predictions"] = volume
    return found


def _save_png(draw, url: str) -> None:
    import os
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "figure.png")
        draw(path)
        with open(path, "rb") as handle:
            storage.write_bytes(url, handle.read())


def _previews(run: str, volumes: dict[str, ome.Volume], out: str) -> list[str]:
    pictures = []
    row: list[tuple[str, np.ndarray, np.ndarray | None]] = []
    for name, volume in volumes.items():
        if name.endswith("/predictions"):
            continue
        labels = ome.list_labels(volume.url)
        row.append((f"{name} (mid z)", _mid(volume), None))
        if labels:
            row.append((f"{name} + {labels[0]}", _mid(volume), _mid(ome.open_labels(volume.url, labels[0]))))
    if row:
        _save_png(lambda p: previews.panel_figure(row, p), storage.join(out, "volumes.png"))
        pictures.append("volumes.png")
    exm = volumes.get("exm")
    for name, volume in volumes.items():
        if not name.endswith("/predictions"):
            continue
        experiment = name.split("/")[0]
        panels: list[tuple[str, np.ndarray, np.ndarray | None]] = [
            (f"{experiment}: channel {c}", _mid(volume, c), None) for c in range(volume.shape[0])
        ]
        if exm is not None:
            for label_name in ome.list_labels(volume.url):
                panels.append((f"{experiment}: {label_name}", _mid(exm), _mid(ome.open_labels(volume.url, label_name))))
            gt = ome.list_labels(exm.url)
            if gt:
                panels.append(("ExM ground truth", _mid(exm), _mid(ome.open_labels(exm.url, gt[0]))))
        file = f"{experiment}_prediction.png"
        _save_png(lambda p, panels=panels: previews.panel_figure(panels, p), storage.join(out, file))
        pictures.append(file)
    return pictures


def _loss_curves(run: str, out: str) -> list[str]:
    pictures = []
    at = RunLayout(run)
    candidates = [(f"ccgan {m}", at.ccgan_model(m)) for m in at.ccgan_models()]
    candidates += [(f"{e} segmenter", at.seg_model(e)) for e in at.experiments()]
    for title, model_url in candidates:
        log_url = storage.join(model_url, "losses.jsonl")
        if not storage.exists(log_url):
            continue
        series = previews.read_loss_log(storage.read_bytes(log_url).decode())
        if series:
            file = f"losses_{title.replace('/', '_').replace(' ', '_')}.png"
            _save_png(lambda p, s=series, t=title: previews.loss_figure(f"{t} losses", s, p), storage.join(out, file))
            pictures.append(file)
    return pictures


def _state(run: str, volumes: dict[str, ome.Volume]) -> dict:
    """Layers for every volume and label image, arranged to open on the ExM image, its ground truth and the best
    experiment's instances (:func:`em2exm.ngstate.arrange`)."""
    layers = []
    for name, volume in volumes.items():
        channel = 0 if name.endswith("/predictions") else None
        layers.append(Layer(name, _layer_url(run, volume.url), channel=channel))
        for label_name in ome.list_labels(volume.url):
            label_url = storage.join(volume.url, "labels", label_name)
            layers.append(Layer(f"{name}:{label_name}", _layer_url(run, label_url), segmentation=True))
    reference = volumes.get("exm") or next(iter(volumes.values()))
    channels = {name: volume.attrs["channels"] for name, volume in volumes.items() if "channels" in volume.attrs}
    state = viewer_state(layers, reference.voxel_size, reference.spatial_shape)
    return arrange(state, best_experiment(read_metrics(run)), channels)


def shown_products(run: str, volumes: dict[str, ome.Volume]) -> dict[str, str]:
    """Everything the report shows (volumes, evaluations, models): when one is made again, so is the report."""
    at = RunLayout(run)
    shown = {name: volume.url for name, volume in volumes.items()}
    shown.update({f"{e}/evaluation": at.evaluation(e) for e in at.experiments()})
    shown.update({f"{e}/model": at.seg_model(e) for e in at.experiments()})
    shown.update({f"ccgan/{m}": at.ccgan_model(m) for m in at.ccgan_models()})
    return shown


def run(params: VisualizeParams, how: Invocation = Invocation()) -> None:
    """Write previews, loss curves, the viewer state and report.md for ``params.run``."""
    out = params.report
    storage.check_reachable(params.run)
    volumes = collect(params.run)
    if not volumes:
        from em2exm.errors import UserError

        raise UserError(f"{params.run} holds no em2exm volumes", "run the pipeline (em2exm run) before visualize")
    with outputs.claim(out, stage="visualize", options=params, inputs={}, products=PRODUCTS, redo=how.redo,
                       watch=shown_products(params.run, volumes)) as output:
        if output.complete:
            return
        pictures = _previews(params.run, volumes, out) + _loss_curves(params.run, out)
        state = _state(params.run, volumes)
        storage.write_bytes(storage.join(out, "neuroglancer_state.json"), json.dumps(state, indent=1).encode())
        write_report(params.run, out, pictures)
        output.commit({"stage": "visualize", "pictures": pictures})
    log.info("report: %s", storage.join(out, "report.md"))
