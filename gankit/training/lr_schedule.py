"""Learning-rate decay over a run (`optim.lr_decay`): both optimizers' lrs follow a cosine to a final factor."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch

from gankit.errors import GankitError
from gankit.training.hooks import Hook

if TYPE_CHECKING:
    from gankit.training.trainer import Trainer


def cosine_factor(progress: float, final: float) -> float:
    """The lr factor at `progress` in [0, 1] of a run: 1 at the start, `final` at the end (half a cosine)."""
    progress = min(max(progress, 0.0), 1.0)
    return final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * progress))


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
