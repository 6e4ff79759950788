"""CCGAN trainer: every parameter learns, losses fall on a fixed batch, seg_match gating, exact resume, checkpoints."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from em2exm.ccgan.checkpoint import (
    checkpoint_bytes,
    generator_from_checkpoint,
    load_checkpoint,
    save_checkpoint,
    trainer_from_checkpoint,
)
from em2exm.ccgan.config import CCGANConfig
from em2exm.ccgan.samples import sample_png, sample_rows
from em2exm.ccgan.schedule import LinearDecay
from em2exm.ccgan.trainer import CCGANTrainer
from em2exm.errors import UserError

SMALL = {"ngf": 4, "ndf": 4, "netG": "resnet_6blocks", "patch": (32, 32), "lambda_identity": 0.5}


def make_batch(config: CCGANConfig, seed: int = 0) -> dict[str, np.ndarray]:
    """Smooth random images in [-1, 1] and blob labels of the configured patch."""
    rng = np.random.default_rng(seed)
    shape = (config.batch_size, 1, *config.patch_shape)
    smooth = lambda: np.tanh(np.cumsum(rng.normal(size=shape), axis=-1) / 4).astype(np.float32)  # noqa: E731
    a, b = smooth(), smooth()
    batch = {"A": a, "B": b}
    if config.seg_head:
        fg = (a > 0).astype(np.float32)
        maps = {"b": fg, "c": np.abs(np.diff(fg, axis=-1, prepend=0)), "d": fg * 2 - 1}
        batch["seg"] = np.concatenate([maps[k] for k in config.seg_target], axis=1)
    return batch


def params(trainer: CCGANTrainer) -> dict[str, torch.Tensor]:
    return {f"{k}.{n}": p.detach().clone() for k, net in trainer.nets.items() for n, p in net.named_parameters()}


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"seg_target": "bcd", "seg_discriminator": True, "seg_consistency_weight": 2.0, "gan_mode": "vanilla"},
        {"dims": 3, "patch": (12, 24, 24), "netG": "unet_3d", "unet_filters": (4, 8, 8), "batch_size": 2},
        {"dims": 3, "patch": (13, 25, 25), "seg_discriminator": True, "detach_seg_adv": True},
    ],
)
def test_one_step_changes_every_parameter(options):
    config = CCGANConfig(**{**SMALL, **options})
    trainer = CCGANTrainer(config, "cpu")
    before = params(trainer)
    losses = trainer.step(make_batch(config))
    assert all(np.isfinite(v) for v in losses.values())
    after = params(trainer)
    unchanged = [k for k in before if torch.equal(before[k], after[k])]
    assert not unchanged
    assert trainer.iteration == 1


def test_losses_fall_on_a_fixed_batch():
    config = CCGANConfig(**SMALL, lr=1e-3)
    trainer = CCGANTrainer(config, "cpu")
    batch = make_batch(config)
    keys = ("cycle_A", "cycle_B", "idt_A", "idt_B", "seg_syn", "seg_rec")
    history = [sum(trainer.step(batch)[k] for k in keys) for _ in range(20)]
    assert np.mean(history[-3:]) < 0.6 * np.mean(history[:3])


def test_seg_match_weight_zero_gives_the_seg_heads_no_gradient():
    config = CCGANConfig(**SMALL, seg_match_weight=0.0)
    trainer = CCGANTrainer(config, "cpu")
    before = params(trainer)
    losses = trainer.step(make_batch(config))
    assert losses["seg_syn"] > 0  # still reported
    heads = [p for name in ("G_A", "G_B") for p in trainer.nets[name].seg_head.parameters()]
    assert all(p.grad is None or not p.grad.any() for p in heads)
    after = params(trainer)
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert not any(".seg_head." in k for k in changed)
    assert any(k.startswith("G_A.model.") for k in changed)


def test_resume_continues_exactly():
    config = CCGANConfig(**SMALL, pool_size=2, seg_discriminator=True, n_epochs=1, n_epochs_decay=3, iters_per_epoch=2)
    batches = [make_batch(config, seed) for seed in range(6)]
    trainer = CCGANTrainer(config, "cpu")
    for batch in batches[:3]:
        trainer.step(batch)
    saved = checkpoint_bytes(trainer.state_dict())
    for batch in batches[3:]:
        trainer.step(batch)
    resumed = trainer_from_checkpoint(load_checkpoint(saved), "cpu")
    assert resumed.iteration == 3
    for batch in batches[3:]:
        resumed.step(batch)
    assert resumed.iteration == trainer.iteration == 6
    ours, theirs = params(trainer), params(resumed)
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    assert resumed.optimizers["G"].param_groups[0]["lr"] == trainer.optimizers["G"].param_groups[0]["lr"]


def test_linear_decay_matches_reference_policy():
    rule = LinearDecay(n_epochs=100, n_epochs_decay=100, iters_per_epoch=10)
    assert rule(0) == rule(989) == 1.0  # epochs 1..100 at the initial rate
    assert rule(1000) == pytest.approx(1 - 1 / 101)
    assert rule(1999) == pytest.approx(1 / 101)
    config = CCGANConfig(**SMALL, n_epochs=1, n_epochs_decay=1, iters_per_epoch=1)
    trainer = CCGANTrainer(config, "cpu")
    lrs = [trainer.step(make_batch(config))["lr"] for _ in range(2)]
    assert lrs == pytest.approx([config.lr / 2, 0.0])


def test_checkpoint_io_and_generator_export(tmp_path):
    config = CCGANConfig(**SMALL)
    trainer = CCGANTrainer(config, "cpu")
    trainer.step(make_batch(config))
    path = tmp_path / "ccgan.pt"
    with path.open("wb") as f:
        save_checkpoint(trainer.state_dict(), f)
    with path.open("rb") as f:
        state = load_checkpoint(f)
    assert state["iteration"] == 1 and state["config"]["ngf"] == 4
    generator = generator_from_checkpoint(state, "G_A")
    x = torch.from_numpy(make_batch(config)["A"])
    with torch.no_grad():  # the trainer's copy is channels-last: same weights, other conv kernels
        torch.testing.assert_close(generator(x)[0], trainer.G_A.eval()(x)[0], atol=1e-5, rtol=1e-4)
    with pytest.raises(UserError, match="not a readable checkpoint"):
        load_checkpoint(b"not a checkpoint")
    buffer = io.BytesIO()
    torch.save({"something": torch.zeros(1)}, buffer)
    with pytest.raises(UserError, match="not an em2exm CCGAN checkpoint"):
        load_checkpoint(buffer.getvalue())


def test_sample_picture_names_every_tile():
    config = CCGANConfig(**SMALL, batch_size=2)
    trainer = CCGANTrainer(config, "cpu")
    trainer.step(make_batch(config))
    rows = sample_rows(trainer.visuals, config.seg_target)
    assert [title for title, _ in rows[0]] == ["real A (EM)", "G_A(A): as ExM", "G_B(G_A(A))", "G_A head on A", "EM labels"]
    assert [title for title, _ in rows[1]] == ["real B (ExM)", "G_B(B): as EM", "G_A(G_B(B))", "G_B head on B"]
    assert len(rows) == 4 and all(tile.shape == (32, 32) and 0 <= tile.min() <= tile.max() <= 1 for r in rows for _, tile in r)
    assert sample_png(trainer.visuals, config.seg_target).startswith(b"\x89PNG")
    plain = CCGANConfig(**{**SMALL, "seg_head": False, "dims": 3, "patch": (12, 24, 24)})
    trainer = CCGANTrainer(plain, "cpu")
    trainer.step(make_batch(plain))
    rows = sample_rows(trainer.visuals)
    assert [len(r) for r in rows] == [3, 3] and rows[0][0][1].shape == (24, 24)


def test_generator_weights_that_do_not_fit_are_a_user_error():
    state = CCGANTrainer(CCGANConfig(**SMALL), "cpu").state_dict()
    state["config"]["ngf"] = 8
    with pytest.raises(UserError, match="do not fit the network") as caught:
        generator_from_checkpoint(load_checkpoint(checkpoint_bytes(state)), "G_A")
    assert "\n" not in str(caught.value)
