"""Half-cosine schedules of hyper-parameters (pure maths; the hooks that apply them live in lr_schedule.py)."""
from __future__ import annotations

import math


def cosine_value(progress: float, start: float, end: float) -> float:
    """`start` at progress 0, `end` at 1 and after, along half a cosine (R3GAN's schedules)."""
    progress = min(max(progress, 0.0), 1.0)
    return end + (start - end) * 0.5 * (1.0 + math.cos(math.pi * progress))


def cosine_factor(progress: float, final: float) -> float:
    """A factor going from 1 to `final` along half a cosine over progress in [0, 1]."""
    return cosine_value(progress, 1.0, final)


def ema_half_life_kimg(half_life_kimg: float, schedule_kimg: float, ramp: bool, cur_nimg: int) -> float:
    """The EMA half-life now: constant, or (R3GAN, `schedule.ema_rampup`) rising from 0 along the cosine."""
    if not ramp or schedule_kimg <= 0:
        return half_life_kimg
    return cosine_value(cur_nimg / (schedule_kimg * 1000), 0.0, half_life_kimg)
