"""StyleGAN3-R's discriminator blur (REFERENCE §4; SG3 training/loss.py): D sees its input blurred by a
separable kernel ∝ 2^(−(k/σ)²), |k| ≤ ⌊3σ⌋, with σ = σ₀·max(1 − cur_nimg / (fade_kimg·1000), 0).

Reals and fakes alike, in every D call (the D and G phases and R1), before any augmentation:
a forward pre-hook on D installed first in line, with σ set from the image clock before each step.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from gankit.nn.filters import blur_kernel, upfirdn2d
from gankit.training.hooks import Hook

if TYPE_CHECKING:
    from gankit.training.trainer import Trainer


def blur_sigma(cur_nimg: int, initial_sigma: float, fade_kimg: float) -> float:
    """σ at `cur_nimg`: `initial_sigma` falling linearly to 0 at `fade_kimg` thousand images."""
    if fade_kimg <= 0:
        return 0.0
    return initial_sigma * max(1.0 - cur_nimg / (fade_kimg * 1000), 0.0)


def blur_images(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """[N, C, H, W] blurred by the separable 2^(−(k/σ)²) kernel, same size (zero padding); x itself when σ < ⅓."""
    f = blur_kernel(sigma)
    if f is None:
        return x
    r = len(f) // 2
    return upfirdn2d(x, f.to(x.device), padding=(r, r, r, r))


class DiscriminatorBlurHook(Hook):
    """Blur D's input with a σ that fades out over `fade_kimg` (StyleGAN3-R: σ₀ = 10, 200 kimg at batch 32)."""

    name = "d_blur"

    def __init__(self, initial_sigma: float, fade_kimg: float) -> None:
        self.initial_sigma, self.fade_kimg = initial_sigma, fade_kimg
        self.sigma = initial_sigma
        self._handle = None

    def _blur(self, module: nn.Module, args: tuple) -> tuple:
        return (blur_images(args[0], self.sigma), *args[1:])

    def on_start(self, t: "Trainer") -> None:
        self.sigma = blur_sigma(t.state.cur_nimg, self.initial_sigma, self.fade_kimg)
        self._handle = t.D.register_forward_pre_hook(self._blur, prepend=True)  # before DiffAugment

    def before_step(self, t: "Trainer") -> None:
        self.sigma = blur_sigma(t.state.cur_nimg, self.initial_sigma, self.fade_kimg)

    def on_end(self, t: "Trainer") -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    on_interrupt = on_end
