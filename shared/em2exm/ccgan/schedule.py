"""The reference 'linear' learning-rate policy, stepped per iteration (an epoch is ``iters_per_epoch``)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.optim.lr_scheduler import LambdaLR

from em2exm.ccgan.config import CCGANConfig


@dataclass
class LinearDecay:
    """Factor ``1 - max(0, epoch + 1 - n_epochs) / (n_epochs_decay + 1)`` with ``epoch = iteration // iters_per_epoch``.

    A callable object rather than a closure, so ``LambdaLR.state_dict()`` holds plain numbers only.
    """

    n_epochs: int
    n_epochs_decay: int
    iters_per_epoch: int

    def __call__(self, iteration: int) -> float:
        epoch = iteration // self.iters_per_epoch
        return 1.0 - max(0, epoch + 1 - self.n_epochs) / float(self.n_epochs_decay + 1)


def make_scheduler(optimizer: torch.optim.Optimizer, config: CCGANConfig) -> LambdaLR:
    """A ``LambdaLR`` following ``LinearDecay``; call ``step()`` once per iteration."""
    return LambdaLR(optimizer, LinearDecay(config.n_epochs, config.n_epochs_decay, config.iters_per_epoch))


def follow_schedule(scheduler: LambdaLR, config: CCGANConfig) -> None:
    """Make a loaded scheduler follow ``config``'s decay from its current iteration on (loading restores the old one)."""
    decay = LinearDecay(config.n_epochs, config.n_epochs_decay, config.iters_per_epoch)
    scheduler.lr_lambdas = [decay] * len(scheduler.lr_lambdas)
    for group, base in zip(scheduler.optimizer.param_groups, scheduler.base_lrs):
        group["lr"] = base * decay(scheduler.last_epoch)
