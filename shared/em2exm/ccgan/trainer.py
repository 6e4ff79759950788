"""One CycleGAN iteration with segmentation heads, and the resumable trainer state.

Per ``step`` (reference order): all generator passes, one generator update with the discriminators frozen,
one discriminator update on pooled fakes. Passes that share a network and an input stage run as one batch
(G_A on [A, B] gives fake B and identity B; G_B on [B, A] gives fake A and identity A; the discriminators see
[real, fake] together): instance and group norm are per sample, so this changes only speed.
"""

from __future__ import annotations

import functools
import logging
import operator
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.functional import l1_loss

from em2exm.ccgan.config import CCGANConfig
from em2exm.ccgan.heads import Generator, activate
from em2exm.ccgan.losses import gan_loss, seg_loss
from em2exm.ccgan.networks import build_discriminator, build_generator, check_patch, memory_format
from em2exm.ccgan.pool import ImagePool
from em2exm.ccgan.schedule import follow_schedule, make_scheduler
from em2exm.checkpoints import load_weights
from em2exm.devices import resolve_device
from em2exm.precision import autocast, autocast_dtype

log = logging.getLogger(__name__)

FORMAT = "em2exm.ccgan/1"
Tensors = dict[str, torch.Tensor]


def correlation(real: torch.Tensor, fake: torch.Tensor | None) -> torch.Tensor:
    """Pearson correlation of a batch and its translation: +1 keeps the contrast, -1 inverts it (EM -> ExM
    should invert: dark membranes become bright), 0 unrelated. A diagnostic logged with the losses."""
    if fake is None:
        return torch.zeros(())
    a, b = real.detach().float().flatten(), fake.detach().float().flatten()
    a, b = a - a.mean(), b - b.mean()
    return (a * b).sum() / (a.norm() * b.norm()).clamp_min(1e-8)


class CCGANTrainer:
    """Networks G_A (A -> B), G_B (B -> A), D_A (judges B), D_B (judges A), optional D_seg; optimisers and state."""

    def __init__(self, config: CCGANConfig, device: str | torch.device | None = None) -> None:
        check_patch(config)
        self.config = config
        self.device = torch.device(device) if device is not None else resolve_device(config.device)
        self.cuda = self.device.type == "cuda"
        if self.cuda:
            torch.backends.cudnn.benchmark = True
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            nets: dict[str, nn.Module] = {
                "G_A": build_generator(config),
                "G_B": build_generator(config),
                "D_A": build_discriminator(config),
                "D_B": build_discriminator(config),
            }
            if config.seg_discriminator:
                nets["D_seg"] = build_discriminator(config, config.seg_channels)
        self.memory_format = memory_format(config, self.device)
        # torch's stubs: Module.to takes memory_format (documented, accepted) but no overload lists it
        moved = {k: v.to(self.device, memory_format=self.memory_format) for k, v in nets.items()}  # type: ignore[call-overload]
        self.nets = nn.ModuleDict(moved)
        self.generators = [p for k in ("G_A", "G_B") for p in self.nets[k].parameters()]
        self.discriminators = [p for k, net in self.nets.items() if k.startswith("D") for p in net.parameters()]
        betas = (config.beta1, config.beta2)
        self.optimizers = {
            "G": torch.optim.Adam(self.generators, lr=config.lr, betas=betas, fused=True),
            "D": torch.optim.Adam(self.discriminators, lr=config.lr, betas=betas, fused=True),
        }
        self.schedulers = {k: make_scheduler(opt, config) for k, opt in self.optimizers.items()}
        cuda_dtype = torch.bfloat16 if config.amp_dtype == "bfloat16" else torch.float16
        self.amp_dtype = autocast_dtype(self.device, config.amp, cuda_dtype)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.cuda and self.amp_dtype == torch.float16)
        log.info("CycleGAN on %s, %s", self.device, f"{self.amp_dtype} autocast" if self.amp_dtype else "float32")
        self.rng = torch.Generator().manual_seed(config.seed)
        pool_names = ["fake_A", "fake_B"] + (["seg_syn", "seg_rec"] if config.seg_discriminator else [])
        self.pools = {name: ImagePool(config.pool_size, self.rng) for name in pool_names}
        self.iteration = 0
        self.visuals: Tensors = {}

    @property
    def G_A(self) -> Generator:  # noqa: N802 (reference name)
        """The A -> B (EM -> ExM) generator."""
        return self._generator("G_A")

    @property
    def G_B(self) -> Generator:  # noqa: N802 (reference name)
        """The B -> A (ExM -> EM) generator."""
        return self._generator("G_B")

    def _generator(self, name: str) -> Generator:
        net = self.nets[name]
        assert isinstance(net, Generator)  # build_generator made it
        return net

    def step(self, batch: Mapping[str, Any]) -> dict[str, float]:
        """One full iteration on ``{"A", "B"[, "seg"]}`` (N, 1, *patch) in [-1, 1]; returns the losses."""
        c = self.config
        real_a, real_b = self._tensor(batch["A"]), self._tensor(batch["B"])
        target = self._tensor(batch["seg"]) if c.seg_head else None
        losses: Tensors = {}
        with self._autocast():
            out = self._generate(real_a, real_b)
            self._freeze_discriminators(True)
            loss_g = self._generator_losses(out, real_a, real_b, target, losses)
        self.optimizers["G"].zero_grad(set_to_none=True)
        self.scaler.scale(loss_g).backward()
        self.scaler.step(self.optimizers["G"])
        self._freeze_discriminators(False)
        with self._autocast():
            loss_d = self._discriminator_losses(out, real_a, real_b, target, losses)
        self.optimizers["D"].zero_grad(set_to_none=True)
        self.scaler.scale(loss_d).backward()
        self.scaler.step(self.optimizers["D"])
        self.scaler.update()
        for scheduler in self.schedulers.values():
            scheduler.step()
        self.iteration += 1
        self.visuals = {"real_A": real_a, "real_B": real_b, **{k: v.detach() for k, v in out.items() if v is not None}}
        if target is not None:
            self.visuals["label_A"] = target
        losses["polarity_A"] = correlation(real_a, out["fake_B"])
        losses["polarity_B"] = correlation(real_b, out["fake_A"])
        names = list(losses)
        values = torch.stack([losses[k].detach().float() for k in names]).tolist()
        result = dict(zip(names, values))
        result["lr"] = self.schedulers["G"].get_last_lr()[0]
        if self.iteration % c.log_interval == 0:
            log.info("iteration %d: %s", self.iteration, " ".join(f"{k}={v:.4g}" for k, v in result.items()))
        return result

    def _generate(self, real_a: torch.Tensor, real_b: torch.Tensor) -> dict[str, torch.Tensor | None]:
        """All generator passes: fakes, identities, reconstructions and segmentation logits."""
        c, n = self.config, real_a.shape[0]
        idt = c.lambda_identity > 0
        image, seg = self.G_A(torch.cat([real_a, real_b]) if idt else real_a)
        out: dict[str, torch.Tensor | None] = {"fake_B": image[:n], "idt_A": image[n:] if idt else None}
        out["seg_syn_A"] = seg[:n] if seg is not None else None  # G_A's head on real A (EM labels apply)
        image, seg = self.G_B(torch.cat([real_b, real_a]) if idt else real_b)
        fake_a = image[:n]
        out.update(fake_A=fake_a, idt_B=image[n:] if idt else None)
        out["seg_syn_B"] = seg[:n] if seg is not None else None  # G_B's head on real B (ExM, no labels)
        out["rec_A"], out["seg_rec_A"] = self.G_B(out["fake_B"])  # G_B's head on fake B (EM labels apply)
        detach = (c.seg_discriminator and c.detach_seg_adv) or (
            c.seg_consistency_weight > 0 and c.detach_seg_consistency
        )
        image, seg = self.G_A(torch.cat([fake_a, fake_a.detach()]) if detach else fake_a)
        out["rec_B"] = image[:n]
        out["seg_rec_B"] = seg[:n] if seg is not None else None  # G_A's head on fake A (B's content)
        out["seg_rec_B_detached"] = seg[n:] if detach and seg is not None else None
        return out

    def _generator_losses(
        self,
        out: dict[str, Any],
        real_a: torch.Tensor,
        real_b: torch.Tensor,
        target: torch.Tensor | None,
        losses: Tensors,
    ) -> torch.Tensor:
        c = self.config
        losses["G_A"] = gan_loss(self.nets["D_A"](out["fake_B"]), True, c.gan_mode)
        losses["G_B"] = gan_loss(self.nets["D_B"](out["fake_A"]), True, c.gan_mode)
        losses["cycle_A"] = l1_loss(out["rec_A"].float(), real_a) * c.lambda_A
        losses["cycle_B"] = l1_loss(out["rec_B"].float(), real_b) * c.lambda_B
        if c.lambda_identity > 0:
            losses["idt_A"] = l1_loss(out["idt_A"].float(), real_b) * c.lambda_B * c.lambda_identity
            losses["idt_B"] = l1_loss(out["idt_B"].float(), real_a) * c.lambda_A * c.lambda_identity
        total: torch.Tensor = functools.reduce(operator.add, losses.values())  # sum() without its int 0 start
        if target is None:
            return total
        losses["seg_syn"] = seg_loss(out["seg_syn_A"], target, c.seg_target)
        losses["seg_rec"] = seg_loss(out["seg_rec_A"], target, c.seg_target)
        if c.seg_match_weight > 0:
            total = total + c.seg_match_weight * (losses["seg_syn"] + losses["seg_rec"])
        syn_b = activate(out["seg_syn_B"], c.seg_target)
        if c.seg_consistency_weight > 0:
            rec_b = activate(out["seg_rec_B_detached" if c.detach_seg_consistency else "seg_rec_B"], c.seg_target)
            losses["seg_consistency"] = l1_loss(syn_b.float(), rec_b.float())
            total = total + c.seg_consistency_weight * losses["seg_consistency"]
        if c.seg_discriminator:
            rec_b = activate(out["seg_rec_B_detached" if c.detach_seg_adv else "seg_rec_B"], c.seg_target)
            d_seg = self.nets["D_seg"]
            losses["G_seg"] = gan_loss(d_seg(syn_b), True, c.gan_mode) + gan_loss(d_seg(rec_b), True, c.gan_mode)
            total = total + c.seg_adv_weight * losses["G_seg"]
            out["seg_prob_syn_B"], out["seg_prob_rec_B"] = syn_b, rec_b
        return total

    def _discriminator_losses(
        self,
        out: dict[str, Any],
        real_a: torch.Tensor,
        real_b: torch.Tensor,
        target: torch.Tensor | None,
        losses: Tensors,
    ) -> torch.Tensor:
        c = self.config
        losses["D_A"] = self._judge("D_A", real_b, [self.pools["fake_B"].query(out["fake_B"])])
        losses["D_B"] = self._judge("D_B", real_a, [self.pools["fake_A"].query(out["fake_A"])])
        total = losses["D_A"] + losses["D_B"]
        if c.seg_discriminator:
            assert target is not None
            fakes = [
                self.pools["seg_syn"].query(out.pop("seg_prob_syn_B")),
                self.pools["seg_rec"].query(out.pop("seg_prob_rec_B")),
            ]
            losses["D_seg"] = self._judge("D_seg", target, fakes)
            total = total + losses["D_seg"]
        return total

    def _judge(self, name: str, real: torch.Tensor, fakes: list[torch.Tensor]) -> torch.Tensor:
        """0.5 * (loss(real) + mean of loss(fake)) from one batched discriminator pass (CySGAN's two-fake form)."""
        n = real.shape[0]
        inputs = torch.cat([real, *[f.to(real.dtype) for f in fakes]]).contiguous(memory_format=self.memory_format)
        pred = self.nets[name](inputs)
        fake = sum(gan_loss(pred[n * (i + 1) : n * (i + 2)], False, self.config.gan_mode) for i in range(len(fakes)))
        return 0.5 * (gan_loss(pred[:n], True, self.config.gan_mode) + fake / len(fakes))

    def _freeze_discriminators(self, frozen: bool) -> None:
        for p in self.discriminators:
            p.requires_grad_(not frozen)

    def _autocast(self) -> AbstractContextManager[Any]:
        return autocast(self.device, self.amp_dtype)

    def _tensor(self, array: np.ndarray | torch.Tensor) -> torch.Tensor:
        tensor = torch.as_tensor(array).to(self.device, torch.float32, non_blocking=True)
        return tensor.contiguous(memory_format=self.memory_format)

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume exactly: config, iteration, networks, optimisers, schedulers, pools, RNG.

        Tensors are shared with the live trainer (as ``nn.Module.state_dict``): serialise before training on.
        """
        return {
            "format": FORMAT,
            "config": self.config.model_dump(mode="json"),
            "iteration": self.iteration,
            "nets": {k: {n: t.cpu() for n, t in net.state_dict().items()} for k, net in self.nets.items()},
            "optimizers": {k: opt.state_dict() for k, opt in self.optimizers.items()},
            "schedulers": {k: s.state_dict() for k, s in self.schedulers.items()},
            "scaler": self.scaler.state_dict(),
            "pools": {k: pool.state_dict() for k, pool in self.pools.items()},
            "rng": self.rng.get_state(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a ``state_dict()``: the networks must match this trainer's config; its learning-rate schedule
        (``n_epochs``, ``n_epochs_decay``) is this config's, so a resumed run may train longer."""
        for name, net in self.nets.items():
            load_weights(net, state["nets"].get(name), "train afresh with --overwrite")
        for name, opt in self.optimizers.items():
            opt.load_state_dict(state["optimizers"][name])
        for name, scheduler in self.schedulers.items():
            scheduler.load_state_dict(state["schedulers"][name])
            follow_schedule(scheduler, self.config)
        if state["scaler"]:
            self.scaler.load_state_dict(state["scaler"])
        for name, pool in self.pools.items():
            pool.load_state_dict(state["pools"][name], self.device)
        self.rng.set_state(state["rng"])
        self.iteration = int(state["iteration"])
