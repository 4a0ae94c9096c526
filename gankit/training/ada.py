"""The augmentation probability p of the ADA pipeline: adaptive, fixed or scheduled (AugmentHook).

- Adaptive (`augment.ada.target` set; Karras et al. 2020): every `augment.ada.interval` D steps,
  r_t = E[sign(D(real))] over the reals D scored since the last adjustment (summed over all ranks),
  and p ← clamp(p + sign(r_t − target)·batch·interval / (ada.kimg·1000), 0, 1): p can cross 0 → 1
  in `ada.kimg` thousand images. p starts at `augment.p`.
- Scheduled (`augment.p_ramp_kimg` > 0; R3GAN's 0 → p_max): p rises from 0 to `augment.p` along
  a half cosine over `p_ramp_kimg` thousand images, then stays.
- Fixed: p = `augment.p`.
p and the r_t accumulator are saved in the checkpoint (hook state), so resume is exact. p and r_t
go to the phase stats (`augment/p`, `augment/rt`): log.jsonl, TensorBoard, the progress bar.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch

from gankit.config import TrainConfig
from gankit.nn.ada import AdaptiveAugment
from gankit.training.hooks import Hook

if TYPE_CHECKING:
    from gankit.training.trainer import Trainer


def ada_adjust(p: float, rt: float, target: float, batch: int, interval: int, kimg: float) -> float:
    """One ADA step: p moved by batch·interval/(kimg·1000) towards more augmentation when r_t > target."""
    direction = (rt > target) - (rt < target)
    return min(max(p + direction * batch * interval / (kimg * 1000), 0.0), 1.0)


def ramp_p(cur_nimg: int, p_max: float, ramp_kimg: float) -> float:
    """The scheduled p: 0 → p_max along a half cosine over ramp_kimg thousand images, then p_max."""
    t = min(cur_nimg / (ramp_kimg * 1000), 1.0)
    return p_max * (1 - math.cos(math.pi * t)) / 2


class AugmentHook(Hook):
    """Installs the ADA pipeline on D's input and sets its p (adaptive, scheduled or fixed)."""

    name = "ada"

    def __init__(self, cfg: TrainConfig) -> None:
        a = cfg.augment
        self.target, self.kimg, self.interval = a.ada.target, a.ada.kimg, a.ada.interval
        self.p_max, self.ramp_kimg = a.p, a.p_ramp_kimg
        self.pipeline = AdaptiveAugment(a.pipeline, a.p if a.p_ramp_kimg <= 0 else 0.0)
        self.rt: float | None = None
        self._signs = torch.zeros(2)  # [sum of sign(D(real)), count] since the last adjustment
        self._handle = None

    def on_start(self, t: "Trainer") -> None:
        self.pipeline.generator = t.draws  # keyed per-sample draws, as DiffAugment's
        self._signs = self._signs.to(t.device)
        self._set_scheduled(t)
        if self._handle is None:
            self._handle = self.pipeline.install(t.D)

    def _set_scheduled(self, t: "Trainer") -> None:
        if self.target is None and self.ramp_kimg > 0:
            self.pipeline.p = ramp_p(t.state.cur_nimg, self.p_max, self.ramp_kimg)

    def before_step(self, t: "Trainer") -> None:
        self._set_scheduled(t)

    def after_d_step(self, t: "Trainer") -> None:
        if self.target is None:
            return
        for logits in t.real_logits:  # this D step's logits on reals, one tensor per accumulation round
            self._signs += torch.stack([logits.detach().float().sign().sum(), logits.new_tensor(logits.numel(), dtype=torch.float32)])
        if t.state.d_steps % self.interval:
            return
        signs = self._signs.clone()
        if t.world > 1:
            torch.distributed.all_reduce(signs)
        total, count = signs.tolist()
        self._signs.zero_()
        if count:
            self.rt = total / count
            self.pipeline.p = ada_adjust(self.pipeline.p, self.rt, self.target, t.batch_size, self.interval, self.kimg)
            t.stats.add("augment/rt", torch.tensor(self.rt))

    def after_step(self, t: "Trainer") -> None:
        t.stats.add("augment/p", torch.tensor(self.pipeline.p))

    def on_end(self, t: "Trainer") -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    on_interrupt = on_end

    def state_dict(self) -> dict:
        return {"p": torch.tensor(self.pipeline.p, dtype=torch.float64), "signs": self._signs.detach().cpu().clone(),
                "rt": torch.tensor(float("nan") if self.rt is None else self.rt, dtype=torch.float64)}

    def load_state_dict(self, state: dict) -> None:
        self.pipeline.p = float(state["p"])
        self._signs = state["signs"].clone().to(self._signs.device)
        rt = float(state["rt"])
        self.rt = None if math.isnan(rt) else rt
