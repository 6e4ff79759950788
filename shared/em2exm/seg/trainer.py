"""Training loop: ``step()`` per iteration, ``validate()`` for loss and foreground F1, resumable state."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from em2exm.checkpoints import load_weights
from em2exm.precision import autocast, autocast_dtype
from em2exm.seg.checkpoint import build_model
from em2exm.seg.config import SegTrainConfig
from em2exm.seg.heads import normalize_image
from em2exm.seg.losses import SegLoss
from em2exm.seg.sampler import LabelledVolume, PatchSampler, make_targets, read_pair, tile_origins

log = logging.getLogger(__name__)


class SegTrainer:
    """Trains the configured U-Net on patches of ``train``; validates on tiles of ``val``."""

    def __init__(
        self,
        config: SegTrainConfig,
        train: LabelledVolume,
        val: LabelledVolume | None = None,
        device: str | torch.device | None = None,
    ) -> None:
        self.config = config
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        torch.manual_seed(config.seed)
        self.rng = np.random.default_rng(config.seed)
        self.model = build_model(config).to(self.device)
        self.loss = SegLoss(config.target, config.balance)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        self.sampler = PatchSampler(train, config, self.rng)
        self.val = val
        self.val_origins = tile_origins(val, config.patch, config.val_max_patches) if val is not None else []
        self.iteration = 0
        self.amp_dtype = autocast_dtype(self.device, config.amp)
        log.info("U-Net on %s, %s", self.device, f"{self.amp_dtype} autocast" if self.amp_dtype else "float32")

    def _autocast(self) -> Any:
        return autocast(self.device, self.amp_dtype)

    def learning_rate(self) -> float:
        """The learning rate for the current iteration."""
        if self.config.lr_schedule == "constant":
            return self.config.lr
        return self.config.lr * 0.5 * (1 + math.cos(math.pi * min(self.iteration / self.config.iterations, 1.0)))

    def step(self) -> dict[str, float]:
        """One optimisation step on a fresh batch; returns the total loss and its parts."""
        self.model.train()
        x, t = (torch.from_numpy(a).to(self.device) for a in self.sampler.batch(self.config.batch))
        for group in self.optimizer.param_groups:
            group["lr"] = self.learning_rate()
        with self._autocast():
            logits = self.model(x)
        loss, parts = self.loss(logits, t)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.iteration += 1
        return {"loss": float(loss.detach()), **parts}

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Mean loss and foreground F1 (B > 0.5 against label > 0) over the validation tiles."""
        if self.val is None:
            raise ValueError("no validation volume was given")
        self.model.eval()
        losses, tp, fp, fn = [], 0, 0, 0
        for i in range(0, len(self.val_origins), self.config.batch):
            pairs = [read_pair(self.val, o, self.config.patch) for o in self.val_origins[i : i + self.config.batch]]
            x = torch.from_numpy(np.stack([normalize_image(p[0]) for p in pairs])[:, None]).to(self.device)
            t = torch.from_numpy(np.stack([make_targets(p[1], self.config) for p in pairs])).to(self.device)
            with self._autocast():
                logits = self.model(x)
            losses.append(float(self.loss(logits, t)[0]))
            pred, truth = logits[:, 0].float() > 0, t[:, 0] > 0.5
            tp += int((pred & truth).sum())
            fp += int((pred & ~truth).sum())
            fn += int((~pred & truth).sum())
        f1 = 2 * tp / max(2 * tp + fp + fn, 1)
        return {"val_loss": float(np.mean(losses)), "f1": f1}

    def fit(self, on_validate: Callable[[dict[str, float]], None] | None = None) -> list[dict[str, float]]:
        """Step until ``config.iterations``, validating every ``val_interval`` and at the end."""
        history = []
        while self.iteration < self.config.iterations:
            train = self.step()
            done = self.iteration >= self.config.iterations
            if self.val is not None and (self.iteration % self.config.val_interval == 0 or done):
                record = {"iteration": self.iteration, "loss": train["loss"], **self.validate()}
                log.info("seg iteration %(iteration)d: loss %(loss).4f val_loss %(val_loss).4f f1 %(f1).4f", record)
                history.append(record)
                if on_validate is not None:
                    on_validate(record)
        return history

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume: config, weights, optimizer, iteration and random state."""
        return {
            "config": self.config.model_dump(mode="json"),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "iteration": self.iteration,
            "rng": self.rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume from ``state_dict()`` output (e.g. via ``load_checkpoint``)."""
        load_weights(self.model, state["model"], "train afresh with --overwrite")
        self.optimizer.load_state_dict(state["optimizer"])
        self.iteration = int(state["iteration"])
        self.rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
