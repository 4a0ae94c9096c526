"""Non-lazy R1/R2 from the D step's own pass (`Trainer.penalty_inputs`) against the separate pass that runs D again.

Where the maths is the same the two must agree to float rounding: the penalties, D's gradient and its
update. With BatchNorm the separate pass also moved the running statistics a second time; with an
augmentation inside D it drew a second augmentation. Those two differ by design and are tested for
what the fused pass should do instead.
"""
from __future__ import annotations

import pytest
import torch

from gankit.training import Trainer
from tests.conftest import tiny_config, tiny_images

BOTH = ("reg.r1.gamma=1.0", "reg.r2.gamma=2.0")


def trainer_with_curved_d(preset: str, *extra: str, resolution: int = 8, classes: int = 0) -> Trainer:
    """A started trainer whose D is moved off its initialisation: R3GAN's blocks start as the identity,
    which leaves D linear in x and its input gradient the same for every image."""
    data = tiny_images(n=32, resolution=resolution, classes=classes)
    trainer = Trainer(tiny_config(preset, *extra, "seed=3"), data=data).start()
    noise = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in trainer.D.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=noise))
    return trainer


def d_step(preset: str, fused: bool, *extra: str, resolution: int = 8, classes: int = 0) -> dict:
    """One D step from the same start: the penalties per round, D's gradient at the optimizer step, its
    parameters and buffers after it, and how many times D ran."""
    trainer = trainer_with_curved_d(preset, *extra, resolution=resolution, classes=classes)
    assert trainer.penalty_inputs  # the configs below all have a non-lazy R1 or R2
    if not fused:
        trainer.penalty_inputs = frozenset()
    grads, calls = {}, []
    step = trainer.opt_D.step

    def record_and_step(*args, **kwargs):
        grads.update({k: p.grad.clone() for k, p in trainer.D.named_parameters() if p.grad is not None})
        return step(*args, **kwargs)

    trainer.opt_D.step = record_and_step
    trainer.D.register_forward_pre_hook(lambda module, args: calls.append(len(args[0])))
    before = {k: p.detach().clone() for k, p in trainer.D.named_parameters()}
    trainer.d_phase(0)
    penalties = {k: torch.stack(v) for k, v in trainer.stats.values.items() if k.startswith("reg/")}
    updates = {k: p.detach() - before[k] for k, p in trainer.D.named_parameters()}
    buffers = {k: b.clone() for k, b in trainer.D.named_buffers()}
    return {"penalties": penalties, "grads": grads, "updates": updates, "buffers": buffers, "calls": calls,
            "lr": trainer.opt_D.param_groups[0]["lr"]}


def assert_same_step(fused: dict, separate: dict) -> None:
    """Penalties and gradients to float rounding; Adam's update to 1 % of its step (lr): its first step is
    about lr·g/(|g| + eps), which turns rounding in gradients near eps into visible differences."""
    assert fused["penalties"].keys() == separate["penalties"].keys() and fused["penalties"]
    for name, value in separate["penalties"].items():
        torch.testing.assert_close(fused["penalties"][name], value, rtol=1e-5, atol=0)
    assert fused["grads"].keys() == separate["grads"].keys()
    for name, grad in separate["grads"].items():
        scale = grad.abs().max().clamp_min(1e-12)
        assert (fused["grads"][name] - grad).abs().max() <= 1e-5 * scale, name
        assert (fused["updates"][name] - separate["updates"][name]).abs().max() <= 1e-2 * fused["lr"], name


@pytest.mark.parametrize("preset, extra, classes", [
    ("r3gan", BOTH, 0),
    ("r3gan", BOTH + ("conditional=true",), 10),  # RpGAN pairs fake i with real i's label
    ("r3gan", BOTH + ("batch_gpu=4",), 0),  # 2 accumulation rounds of 4
    ("r3gan", BOTH + ("speed.compile=true",), 0),  # the pass that feeds R1/R2 runs D eagerly
    ("dcgan", ("reg.r1.gamma=1.0",), 0),  # at 8 px: no BatchNorm, reals and fakes in one pass
    ("dcgan", ("reg.r1.gamma=1.0", "batch_gpu=4"), 0),
    ("stylegan2", ("reg.r1.gamma=1.0", "reg.r1.interval=1", "reg.pl.weight=0"), 0),  # minibatch stddev: 2 passes
])
def test_fused_penalties_equal_the_separate_pass(preset, extra, classes):
    fused, separate = d_step(preset, True, *extra, classes=classes), d_step(preset, False, *extra, classes=classes)
    assert_same_step(fused, separate)
    assert len(fused["calls"]) < len(separate["calls"])  # D ran once less per penalty and round


def test_fused_penalties_under_bf16_autocast():
    """Autocast covers the main pass and the gradient alike: equal to bf16 rounding (2^-8)."""
    fused, separate = (d_step("r3gan", fused, *BOTH, "speed.precision=bf16") for fused in (True, False))
    for name, value in separate["penalties"].items():
        torch.testing.assert_close(fused["penalties"][name], value, rtol=1e-2, atol=0)
    for name, grad in separate["grads"].items():
        assert (fused["grads"][name] - grad).abs().max() <= 2e-2 * grad.abs().max(), name


def test_batched_pass_takes_both_gradients_from_one_d_call():
    fused = d_step("r3gan", True, *BOTH, "batch_gpu=4")
    assert fused["calls"] == [8, 8]  # one [reals; fakes] pass of 4 + 4 per round: R1 and R2 add none
    assert set(fused["penalties"]) == {"reg/r1", "reg/r2"}


def test_batchnorm_d_updates_its_running_statistics_once():
    """A BatchNorm D scores reals and fakes apart; the fused penalties reuse those passes, so the running
    statistics move as without penalties (the separate pass moved them again, on the reals alone)."""
    fused, separate = (d_step("dcgan", fused, "reg.r1.gamma=1.0", resolution=16) for fused in (True, False))
    assert_same_step(fused, separate)
    plain = d_step("dcgan", True, "reg.r2.gamma=1.0", resolution=16)  # same passes, penalty on fakes only
    stats = [k for k in fused["buffers"] if "running" in k]
    assert stats
    for key in stats:
        assert torch.equal(fused["buffers"][key], plain["buffers"][key]), key
        assert not torch.equal(fused["buffers"][key], separate["buffers"][key]), key


@pytest.mark.parametrize("augment", ["augment.diffaugment=color,translation,cutout", "augment.p=1"])
def test_penalty_is_taken_through_the_augmentation_the_loss_saw(augment):
    """An augmentation inside D draws per call: the separate pass saw a second, different augmentation of the
    reals; the fused R1 is |grad_x D(aug(x))|^2 for the very aug(x) whose logits feed the loss."""
    trainer = trainer_with_curved_d("r3gan", "reg.r1.gamma=1.0", augment)
    inputs = []
    trainer.D.register_forward_pre_hook(lambda module, args: inputs.append(args[0].detach().clone()), prepend=True)
    weights = {k: v.clone() for k, v in trainer.D.state_dict().items()}
    base = trainer.draws.base.get_state()
    trainer.d_phase(0)
    fused_r1 = trainer.stats.values["reg/r1"][-1]
    (both,) = inputs  # [reals; fakes] before augmentation, one pass

    trainer.D.load_state_dict(weights)  # replay the phase's draws at the step's weights
    trainer.draws.base.set_state(base)
    x = both.requires_grad_(True)
    with trainer._rows(trainer.draws.phase_seed(), 8, slice(0, 8)):
        logits = trainer.D(x)  # [16]: the main pass's augmentation, drawn again
        real_logits = logits[:8]
        (grad,) = torch.autograd.grad(real_logits.sum(), x)
        again = trainer.D(x[:8])  # a second call in the same block: the separate pass's draws
    torch.testing.assert_close(real_logits, trainer.real_logits[0])
    gamma = next(r.weight for r in trainer.regularizers if r.name == "r1")
    torch.testing.assert_close(fused_r1, 0.5 * gamma * grad[:8].square().flatten(1).sum(1).mean(), rtol=1e-5, atol=0)
    assert not torch.allclose(again, real_logits)


def test_lazy_and_non_gradient_penalties_keep_their_own_pass():
    data = tiny_images(n=32, resolution=8, classes=0)
    lazy = Trainer(tiny_config("dcgan", "reg.r1.gamma=1.0", "reg.r1.interval=4"), data=data)
    gp = Trainer(tiny_config("dcgan", "reg.gp.weight=10", "reg.drift.weight=0.001"), data=data)
    mixed = Trainer(tiny_config("dcgan", "reg.r1.gamma=1.0", "reg.r1.interval=4", "reg.r2.gamma=1.0"), data=data)
    assert lazy.penalty_inputs == gp.penalty_inputs == frozenset() and mixed.penalty_inputs == {"fakes"}
    assert Trainer(tiny_config("r3gan"), data=data).penalty_inputs == {"reals", "fakes"}
