"""Schedules over a run: `optim.lr_decay` (both lrs follow a cosine to a final factor over the run) and
R3GAN's `schedule.*` (lr, Adam beta2 and the R1/R2 gammas along cosines over `schedule.kimg`, then constant)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from gankit.errors import GankitError
from gankit.losses import lazy_compensation
from gankit.training.cosine import cosine_factor, cosine_value
from gankit.training.hooks import Hook

if TYPE_CHECKING:
    from gankit.training.trainer import Trainer


def run_progress(t: "Trainer") -> float:
    """How far the run is, in [0, 1]: by generator steps when `steps` is set, else by images (`kimg`)."""
    if t.cfg.steps:
        return t.state.step / t.cfg.steps
    if t.cfg.kimg:
        return t.state.cur_nimg / (t.cfg.kimg * 1000)
    raise GankitError("optim.lr_decay needs a run length: set steps=N or kimg=K (a seconds-only run has no end to decay to)")


def scale_lrs(optimizer: torch.optim.Optimizer, factor: float) -> None:
    """Set every param group's lr to its initial lr (kept in the group, so checkpoints carry it) times `factor`."""
    for group in optimizer.param_groups:
        group.setdefault("initial_lr", group["lr"])
        group["lr"] = group["initial_lr"] * factor


class LrDecayHook(Hook):
    """Before each step, G's and D's lrs = their configured lr x cosine_factor(progress, optim.lr_decay)."""

    name = "lr-decay"

    def on_start(self, t: "Trainer") -> None:
        run_progress(t)  # fail early on a run without a length

    def before_step(self, t: "Trainer") -> None:
        factor = cosine_factor(run_progress(t), t.cfg.optim.lr_decay)
        scale_lrs(t.opt_G, factor)
        scale_lrs(t.opt_D, factor)


class CosineScheduleHook(Hook):
    """R3GAN's schedules (`schedule.*`), a pure function of cur_nimg (so a resumed run continues exactly):
    before each step, both lrs = optim.*.lr x cosine(1 -> lr_end), both Adam beta2 = cosine(optim.*.betas[1]
    -> beta2_end), and the R1/R2 weights = reg.r1/r2.gamma x cosine(1 -> gamma_end), over schedule.kimg."""

    name = "cosine-schedule"

    def before_step(self, t: "Trainer") -> None:
        sched = t.cfg.schedule
        progress = t.state.cur_nimg / (sched.kimg * 1000)
        for network, optimizer in (("G", t.opt_G), ("D", t.opt_D)):
            scale_lrs(optimizer, cosine_value(progress, 1.0, sched.lr_end))
            if sched.beta2_end is not None:
                start = getattr(t.cfg.optim, network).betas[1]
                beta2 = cosine_value(progress, start, sched.beta2_end) ** lazy_compensation(t.regularizers, network)
                for group in optimizer.param_groups:
                    group["betas"] = (group["betas"][0], beta2)
        gammas = {"r1": t.cfg.reg.r1.gamma, "r2": t.cfg.reg.r2.gamma}
        for reg in t.regularizers:
            if reg.name in gammas:
                reg.weight = gammas[reg.name] * cosine_value(progress, 1.0, sched.gamma_end)
