"""Progressive growth (ProGAN, progressive StyleGAN): the level-of-detail schedule and the hook that runs it.

The stage is a float `lod` ("level of detail", ProGAN's name): 0 = the target resolution R,
k = R / 2^k; between two integers the next resolution is fading in. It is a pure function of the
image clock (REFERENCE §1, PG@train.py `TrainingSchedule`): with P = stage + fade kimg and k the
kimg shown so far, phase = ⌊k/P⌋ and

    lod = log2 R − log2 R_start − phase − max(k − phase·P − stage, 0) / fade,   clipped at ≥ 0,

so each phase first stabilizes the current resolution for `stage_kimg`, then fades the next one in
for `fade_kimg` (the code default order; the paper's App. A.1 is the same order at 800/800 kimg).
`GrowthHook` sets `lod` on G, D and G_ema before every step (the official code re-evaluates it every
4 minibatches), sets the batch size of the current resolution (the trainer splits each batch into
`batch_gpu` micro-batches afresh; a batch they do not divide is refused at the start), resets both
optimizers' state when ⌊lod⌋ or ⌈lod⌉ changes (PG@train.py `reset_opt_for_new_lod`), and blends
the real images with `fade_reals`. Since lod follows from `cur_nimg`, a run resumed in the middle of a fade continues
with the same alpha.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.nn import functional as F

from gankit.errors import GankitError
from gankit.training.distributed import accumulation_rounds
from gankit.training.hooks import Hook

if TYPE_CHECKING:
    from gankit.config import GrowthConfig
    from gankit.training.trainer import Trainer


def growth_lod(cur_nimg: int, final_resolution: int, start_resolution: int, stage_kimg: float, fade_kimg: float) -> float:
    """ProGAN's level of detail after `cur_nimg` real images (REFERENCE §1 formula; 0 = fully grown)."""
    kimg = cur_nimg / 1000.0
    period = stage_kimg + fade_kimg
    phase = math.floor(kimg / period) if period > 0 else 0
    lod = math.log2(final_resolution) - math.log2(start_resolution) - phase
    if fade_kimg > 0:
        lod -= max(kimg - phase * period - stage_kimg, 0.0) / fade_kimg
    return max(lod, 0.0)


def stage_resolution(lod: float, final_resolution: int) -> int:
    """The resolution being trained (the higher one during a fade): R / 2^⌊lod⌋."""
    return final_resolution >> math.floor(lod)


def fade_reals(x: torch.Tensor, lod: float) -> torch.Tensor:
    """PG@train.py `process_reals`: reals [N, C, R, R] at stage ⌊lod⌋, blended with the next lower
    stage by frac(lod), replicated back to R×R (the same form as G's faded output)."""
    level = math.floor(lod)
    frac = lod - level
    y = F.avg_pool2d(x, 2 ** level) if level else x  # [N, C, R/2^level, R/2^level]
    if frac > 0:
        y = torch.lerp(y, F.interpolate(F.avg_pool2d(y, 2), scale_factor=2, mode="nearest"), frac)
    return F.interpolate(y, scale_factor=2 ** level, mode="nearest") if level else y


@dataclass(frozen=True)
class GrowthSchedule:
    """lod and batch size as pure functions of the image clock."""

    final_resolution: int
    start_resolution: int
    stage_kimg: float
    fade_kimg: float
    batch_sizes: dict[int, int] = field(default_factory=dict)  # resolution -> global batch
    default_batch: int = 64

    def lod(self, cur_nimg: int) -> float:
        return growth_lod(cur_nimg, self.final_resolution, self.start_resolution, self.stage_kimg, self.fade_kimg)

    def batch_size(self, lod: float) -> int:
        return int(self.batch_sizes.get(stage_resolution(lod, self.final_resolution), self.default_batch))


def lod_changed(old: float, new: float) -> bool:
    """True when a new layer appears or a fade ends: ⌊lod⌋ or ⌈lod⌉ differs (PG's optimizer-reset test)."""
    return math.floor(old) != math.floor(new) or math.ceil(old) != math.ceil(new)


def set_lod(modules: list[nn.Module | None], lod: float) -> None:
    """Write `lod` into the `lod` buffer of every given network (None entries skipped)."""
    for module in modules:
        if module is not None:
            module.lod.fill_(lod)


def reset_optimizer(optimizer: torch.optim.Optimizer) -> None:
    """Forget Adam's moments and step counts (they are rebuilt at the next step)."""
    optimizer.state.clear()


def _is_power_of_two(n: int) -> bool:
    return n >= 4 and n & (n - 1) == 0


class GrowthHook(Hook):
    """Runs a GrowthSchedule: lod on G/D/G_ema, batch size per resolution, optimizer resets, faded reals."""

    name = "growth"

    def __init__(self, cfg: "GrowthConfig", default_batch: int) -> None:
        self.cfg = cfg
        self.default_batch = default_batch
        self.schedule: GrowthSchedule | None = None

    def on_start(self, t: "Trainer") -> None:
        final = t.G.img_resolution
        start = self.cfg.start_resolution
        if not all(isinstance(getattr(m, "lod", None), torch.Tensor) for m in (t.G, t.D)):
            raise GankitError(f"growth.start_resolution={start} needs a growing model (progan); "
                              f"model {t.cfg.model!r} has no lod: set growth.start_resolution=0")
        if not (_is_power_of_two(start) and _is_power_of_two(final) and start <= final):
            raise GankitError(f"growth needs powers of two 4 <= growth.start_resolution ({start}) <= resolution ({final})")
        self.schedule = GrowthSchedule(final, start, self.cfg.stage_kimg, self.cfg.fade_kimg,
                                       dict(self.cfg.batch_sizes), self.default_batch)
        for resolution, batch in self.schedule.batch_sizes.items():  # the trainer splits each into batch_gpu rounds
            try:
                accumulation_rounds(int(batch), t.world, t.cfg.batch_gpu)
            except GankitError as err:
                raise GankitError(f"growth.batch_sizes[{resolution}]: {err}") from None
        t.feeder.transform = lambda x: fade_reals(x, float(t.G.lod))

    def before_step(self, t: "Trainer") -> None:
        lod = self.schedule.lod(t.state.cur_nimg)
        if lod_changed(float(t.G.lod), lod):
            reset_optimizer(t.opt_G)
            reset_optimizer(t.opt_D)
        set_lod([t.G, t.D, t.G_ema], lod)
        t.batch_size = self.schedule.batch_size(lod)
