"""ccgan-train: train the CycleGAN with segmentation heads that translates EM (domain A) into ExM (domain B).

Runs ``(n_epochs + n_epochs_decay) * iters_per_epoch`` iterations on random patches and writes into ``--output``:

- ``checkpoint.pt``: the latest trainer state (networks, optimisers, schedulers, pools, RNGs, iteration),
  replaced atomically every ``checkpoint_interval`` iterations and at the end. A re-run resumes from it; it may
  extend the schedule (``n_epochs``, ``n_epochs_decay``) or change the intervals, device or memory format; other
  changes need ``--overwrite`` (which starts afresh);
- ``losses.jsonl``: mean losses per ``log_interval``, one ``{"iteration": i, "<loss>": value, ...}`` a line;
- ``samples/iter_XXXXXXX.png``: real A / fake B / rec A / predicted seg / labels over the B row, every
  ``sample_interval`` iterations and at the end;
- ``tensorboard/``: the same scalars, for local outputs only;
- the completion marker, last.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np

from em2exm import ome, outputs, storage
from em2exm.ccgan.checkpoint import checkpoint_bytes, checkpoint_config, load_checkpoint
from em2exm.ccgan.config import CCGANConfig
from em2exm.ccgan.outputs import LOSSES, SAMPLES, TENSORBOARD, LossLog, Scalars
from em2exm.ccgan.sampler import PatchSampler
from em2exm.ccgan.samples import sample_png
from em2exm.ccgan.trainer import CCGANTrainer
from em2exm.checkpoints import CHECKPOINT
from em2exm.errors import UserError
from em2exm.invocation import Invocation
from em2exm.progress import progress
from em2exm.specs.ccgan_train import CCGANTrainParams

log = logging.getLogger("em2exm.ccgan_train")
RESUMABLE = {
    "n_epochs",
    "n_epochs_decay",
    "log_interval",
    "sample_interval",
    "checkpoint_interval",
    "device",
    "channels_last",
}
PRODUCTS = (CHECKPOINT, LOSSES, SAMPLES, TENSORBOARD)


def open_inputs(params: CCGANTrainParams) -> tuple[Any, Any, Any]:
    """The A image, A labels (or None) and B image arrays, checked against each other."""
    image_a, image_b = ome.open_image(params.a), ome.open_image(params.b)
    labels_a = ome.open_image(params.a_labels) if params.a_labels else None
    if labels_a is None and (params.seg_head or params.min_foreground > 0):
        raise UserError(
            "segmentation heads and min_foreground need domain A labels", "pass --a-labels <em.zarr>/labels/groundtruth"
        )
    for name, volume in (("--a", image_a), ("--b", image_b), ("--a-labels", labels_a)):
        if volume is not None and len(volume.shape) != 3:
            raise UserError(
                f"{name} {volume.url} has shape {volume.shape}, not (z, y, x)", "pass a single-channel volume"
            )
    if labels_a is not None:
        if labels_a.shape != image_a.shape:
            raise UserError(
                f"labels {labels_a.shape} and image {image_a.shape} of domain A differ in shape",
                "pass the labels of the --a volume (its labels/groundtruth)",
            )
        if not np.issubdtype(labels_a.array.dtype, np.integer):
            raise UserError(f"labels dtype {labels_a.array.dtype} is not an integer type", "pass instance labels")
    if not np.allclose(image_a.voxel_size, image_b.voxel_size, rtol=0.01):
        log.warning(
            "voxel sizes differ: A %s nm, B %s nm (ingest both at one voxel size)",
            image_a.voxel_size,
            image_b.voxel_size,
        )
    return image_a.array, labels_a.array if labels_a is not None else None, image_b.array


def check_resumable(saved: CCGANConfig, config: CCGANConfig) -> None:
    """Raise unless ``config`` differs from the checkpoint's only in options a resumed run may change."""
    old, new = saved.model_dump(), config.model_dump()
    changed = sorted(k for k in new if k not in RESUMABLE and old.get(k) != new[k])
    if changed:
        raise UserError(
            f"the checkpoint in the output was trained with other options ({', '.join(changed)})",
            "use the same options to resume, or --overwrite to start afresh",
        )


class TrainingRun:
    """A trainer, its patch sampler and the output folder it reports into."""

    def __init__(self, params: CCGANTrainParams, config: CCGANConfig) -> None:
        self.output, self.config = params.output, config
        self.trainer = CCGANTrainer(config)
        self.rng = np.random.default_rng(config.seed)
        self.sampler = PatchSampler(*open_inputs(params), config, self.rng)

    def resume(self) -> None:
        """Load ``checkpoint.pt`` when the output holds one."""
        url = storage.join(self.output, CHECKPOINT)
        if not storage.exists(url):
            return
        state = load_checkpoint(storage.read_bytes(url))
        check_resumable(checkpoint_config(state), self.config)
        self.trainer.load_state_dict(state)
        if "sampler_rng" in state:  # absent from checkpoints written by the library alone
            self.rng.bit_generator.state = json.loads(state["sampler_rng"])
        log.info("resuming from iteration %d", self.trainer.iteration)

    def train(self) -> None:
        """Iterate to the end, logging, sampling and checkpointing on the configured intervals."""
        c, trainer = self.config, self.trainer
        total, start = c.total_iterations, trainer.iteration
        losses = LossLog(storage.join(self.output, LOSSES), start)
        scalars = Scalars(self.output, start)
        log.info("training %d iterations on %s from iteration %d", total, trainer.device, start)
        for _ in progress(range(start, total), total=max(total - start, 0), desc="ccgan-train"):
            result = trainer.step(self.sampler.sample())
            lr = result.pop("lr")
            losses.add(result)
            i, last = trainer.iteration, trainer.iteration == total
            if i % c.log_interval == 0 or last:
                scalars.add({**losses.write(i), "lr": lr})
            if i % c.sample_interval == 0 or last:
                picture = sample_png(trainer.visuals, c.seg_target if c.seg_head else "")
                storage.write_bytes(storage.join(self.output, SAMPLES, f"iter_{i:07d}.png"), picture)
            if i % c.checkpoint_interval == 0 or last:
                self.save()
        scalars.close()
        if not storage.exists(storage.join(self.output, CHECKPOINT)):
            self.save()  # zero iterations: the initial networks

    def save(self) -> None:
        """Write the trainer state (and the sampler's RNG) atomically as ``checkpoint.pt``."""
        state = self.trainer.state_dict()
        state["sampler_rng"] = json.dumps(self.rng.bit_generator.state)
        storage.write_atomic(storage.join(self.output, CHECKPOINT), checkpoint_bytes(state))


def run(params: CCGANTrainParams, how: Invocation = Invocation()) -> None:
    """Train into ``params.output``, resuming from its checkpoint; a no-op when it is already complete."""
    config = CCGANConfig.model_validate(params.model_dump(include=set(CCGANConfig.model_fields)))
    training = TrainingRun(params, config)
    inputs = {"a": params.a, "a_labels": params.a_labels, "b": params.b}
    with outputs.claim(params.output, stage="ccgan-train", options=params, inputs=inputs, products=PRODUCTS,
                       redo=how.redo, resumable=frozenset(RESUMABLE)) as output:
        if output.complete:
            return
        training.resume()
        training.train()
        output.commit({"stage": "ccgan-train", "iterations": training.trainer.iteration,
                       "inputs": {"a": params.a, "b": params.b}})
