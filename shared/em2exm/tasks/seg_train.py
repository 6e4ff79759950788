"""seg-train: train the 3D U-Net on B/C(/D) targets from a build-dataset output; resumable.

Reads ``<dataset>/train.zarr`` and ``<dataset>/val.zarr`` (image + ``labels/groundtruth``).  Writes to the output
folder ``checkpoint.pt`` (weights, optimizer, iteration and random state; replaced atomically every
``checkpoint_interval`` iterations), ``losses.jsonl`` (one ``{"iteration": i, ...}`` object per log line; validation
lines carry ``val_loss`` and ``val_f1``), ``validation.png`` (a validation tile: image, targets, predictions),
``tensorboard/`` (local outputs only) and, last, the completion marker.  A killed run continues from its last
checkpoint; options other than ``iterations`` must then be unchanged (or use ``--overwrite``).  The learning rate
is a function of the iteration, so no scheduler state is stored.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from typing import Any

import numpy as np
import torch

from em2exm import commit, ome, outputs, previews, storage
from em2exm.checkpoints import CHECKPOINT
from em2exm.devices import resolve_device
from em2exm.errors import UserError
from em2exm.invocation import Invocation
from em2exm.progress import progress
from em2exm.seg.checkpoint import checkpoint_bytes, load_checkpoint
from em2exm.seg.config import SegTrainConfig
from em2exm.seg.heads import activate, channel_names, normalize_image
from em2exm.seg.sampler import LabelledVolume, make_targets, read_pair
from em2exm.seg.trainer import SegTrainer
from em2exm.specs.seg_train import SegTrainParams

log = logging.getLogger("em2exm.seg_train")
LABELS_NAME = "groundtruth"
LOSSES, PICTURE, TENSORBOARD = "losses.jsonl", "validation.png", "tensorboard"
IN_MEMORY_BYTES = 1 << 30  # volumes up to this size are read into memory once; larger ones patch by patch
RESUMABLE_CHANGES = {"iterations"}
PRODUCTS = (CHECKPOINT, LOSSES, PICTURE, TENSORBOARD)


def training_config(params: SegTrainParams, voxel_size: tuple[float, float, float]) -> SegTrainConfig:
    """The ``SegTrainConfig`` part of ``params``; the dataset's voxel size unless one was set."""
    data = params.model_dump(include=set(SegTrainConfig.model_fields))
    if "voxel_size" not in params.model_fields_set:
        data["voxel_size"] = voxel_size
    return SegTrainConfig.model_validate(data)


def open_dataset(url: str) -> tuple[LabelledVolume, LabelledVolume, tuple[float, float, float]]:
    """Train and validation volumes of a complete zarr dataset, and its voxel size."""
    if not commit.is_complete(url):
        raise UserError(f"no complete dataset at {url}", "run build-dataset first, or fix --dataset")
    if commit.read_marker(url).get("format", "zarr") != "zarr":
        raise UserError(f"the dataset at {url} was written as h5", "rebuild it with build-dataset --format zarr")
    parts = []
    for part in ("train", "val"):
        image_url = storage.join(url, f"{part}.zarr")
        image, labels = ome.open_image(image_url), ome.open_labels(image_url, LABELS_NAME)
        parts.append(LabelledVolume(_load(image.array), _load(labels.array)))
    return parts[0], parts[1], ome.open_image(storage.join(url, "train.zarr")).voxel_size


def _load(array: Any) -> Any:
    return np.asarray(array[:]) if array.nbytes <= IN_MEMORY_BYTES else array


def resume_state(params: SegTrainParams, config: SegTrainConfig) -> tuple[dict | None, list[dict]]:
    """The checkpoint to continue from (None: start afresh) and the loss records up to its iteration."""
    url = storage.join(params.output, CHECKPOINT)
    if not storage.exists(url):
        return None, []
    state = load_checkpoint(storage.read_bytes(url))
    wanted = config.model_dump(mode="json")
    changed = sorted(k for k in wanted.keys() - RESUMABLE_CHANGES if state["config"].get(k) != wanted[k])
    if changed:
        raise UserError(
            f"the checkpoint in {params.output} was trained with other values of {', '.join(changed)}",
            "use the same options to resume, or --overwrite to start again",
        )
    records = []
    if storage.exists(storage.join(params.output, LOSSES)):
        lines = storage.read_bytes(storage.join(params.output, LOSSES)).decode().splitlines()
        records = [r for r in map(json.loads, filter(None, lines)) if r["iteration"] <= state["iteration"]]
    return state, records


class TrainLog:
    """Loss records to ``losses.jsonl`` (rewritten whole, objects cannot be appended) and TensorBoard."""

    def __init__(self, output: str, records: list[dict], start: int) -> None:
        self.url, self.records = storage.join(output, LOSSES), records
        self.writer = None
        if storage.protocol_of(output) == "file":
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(storage.join(output, TENSORBOARD), purge_step=start + 1 if start else None)

    def add(self, record: dict[str, Any], group: str) -> None:
        self.records.append(record)
        storage.write_atomic(self.url, "".join(json.dumps(r) + "\n" for r in self.records).encode())
        if self.writer is not None:
            for name, value in record.items():
                if name != "iteration":
                    self.writer.add_scalar(f"{group}/{name}", value, record["iteration"])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def validation_picture(trainer: SegTrainer, url: str) -> None:
    """PNG of the middle z-slice of the middle validation tile: image, then target and prediction per map."""
    config, val = trainer.config, trainer.val
    if val is None:
        raise ValueError("no validation volume was given")
    image, labels = read_pair(val, trainer.val_origins[len(trainer.val_origins) // 2], config.patch)
    targets = make_targets(labels, config)
    trainer.model.eval()
    with torch.no_grad():
        logits = trainer.model(torch.from_numpy(normalize_image(image))[None, None].to(trainer.device))
    predicted = activate(logits.float(), config.target)[0].cpu().numpy()
    z = config.patch[0] // 2
    panels: list[tuple[str, np.ndarray, np.ndarray | None]] = [("image", image[z], None)]
    for c, name in enumerate(channel_names(config.target, config.distance)):
        panels += [(f"target {name}", targets[c, z], None), (f"predicted {name}", predicted[c, z], None)]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, PICTURE)
        previews.panel_figure(panels, path)
        with open(path, "rb") as handle:
            storage.write_bytes(url, handle.read())


def run(params: SegTrainParams, how: Invocation = Invocation()) -> None:
    """Train (or continue training) and commit the model folder; a no-op when it is complete."""
    train, val, voxel_size = open_dataset(params.dataset)
    config = training_config(params, voxel_size)
    device = resolve_device(params.device)
    trainer = SegTrainer(config, train, val, device=device)
    with outputs.claim(params.output, stage="seg-train", options=params, inputs={"dataset": params.dataset},
                       products=PRODUCTS, redo=how.redo, resumable=frozenset(RESUMABLE_CHANGES)) as output:
        if output.complete:
            return
        train_to_end(params, config, trainer, output)


def train_to_end(params: SegTrainParams, config: SegTrainConfig, trainer: SegTrainer, output: outputs.Output) -> None:
    """Continue from the output's checkpoint (if any) to the last iteration, then commit the output."""
    state, records = resume_state(params, config)
    if state is not None:
        trainer.load_state_dict(state)
        log.info("resuming from iteration %d of %d", trainer.iteration, config.iterations)
    train_log = TrainLog(params.output, records, trainer.iteration)
    end = config.iterations
    for _ in progress(range(trainer.iteration, end), total=end - trainer.iteration, desc="seg-train"):
        lr = trainer.learning_rate()
        parts = trainer.step()
        i = trainer.iteration
        if i % params.log_interval == 0 or i == end:
            losses = {"loss": parts.pop("loss"), **{f"loss_{k}": v for k, v in parts.items()}}
            train_log.add({"iteration": i, **losses, "lr": lr}, "train")
        if i % config.val_interval == 0 or i == end:
            scores = trainer.validate()
            train_log.add({"iteration": i, "val_loss": scores["val_loss"], "val_f1": scores["f1"]}, "val")
            log.info("iteration %d: val_loss %.4f val_f1 %.4f", i, scores["val_loss"], scores["f1"])
        if i % params.checkpoint_interval == 0 or i == end:
            storage.write_atomic(storage.join(params.output, CHECKPOINT), checkpoint_bytes(trainer.state_dict()))
    train_log.close()
    validation_picture(trainer, storage.join(params.output, PICTURE))
    last: dict[str, Any] = next((r for r in reversed(train_log.records) if "val_loss" in r), {})
    output.commit({"stage": "seg-train", "dataset": params.dataset, **last})
