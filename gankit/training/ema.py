"""Exponential moving average of G with a half-life in images (StyleGAN's G_ema).

One clock for the half-life and its ramp-up: the run's image clock `cur_nimg` (real images shown to
D, so a step advances it by n_critic × batch), the clock of `kimg`, logs and checkpoints. With
n_critic = 1 it is the images of G's steps, as in StyleGAN.
"""
from __future__ import annotations

import copy

import torch
from torch import nn


def make_ema(G: nn.Module) -> nn.Module:
    """A frozen copy of G in eval mode."""
    return copy.deepcopy(G).eval().requires_grad_(False)


def ema_beta(step_nimg: int, half_life_kimg: float, cur_nimg: int, rampup: float | None) -> float:
    """beta = 0.5 ** (step_nimg / half_life_images), with the half-life capped at cur_nimg*rampup; `step_nimg`
    is how far this step moved the clock `cur_nimg` (n_critic × batch)."""
    half_life = half_life_kimg * 1000
    if rampup is not None:
        half_life = min(half_life, cur_nimg * rampup)
    return 0.5 ** (step_nimg / max(half_life, 1e-8))


@torch.no_grad()
def update_ema(G_ema: nn.Module, G: nn.Module, beta: float) -> None:
    """p_ema <- lerp(p, p_ema, beta); buffers (BN statistics, w_avg, ...) are copied."""
    for p_ema, p in zip(G_ema.parameters(), G.parameters()):
        p_ema.copy_(p.detach().lerp(p_ema, beta))
    for b_ema, b in zip(G_ema.buffers(), G.buffers()):
        b_ema.copy_(b)
