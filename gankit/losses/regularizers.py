"""Regularizers: small objects with a weight and an interval, applied by the trainer's phases.

A regularizer with `interval` k > 1 is *lazy* (StyleGAN2): the trainer runs it in its own phase
every k steps of its network, multiplies it by k, and scales that network's Adam lr and betas
by c = k/(k+1) (`lazy_compensation`). Weight clipping is not a penalty but an after-D-step hook
(`clip_weights`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from gankit.config import RegConfig
from gankit.errors import GankitError
from gankit.nn.draws import Source, per_sample

Tensor = torch.Tensor


@dataclass
class DBatch:
    """What a D penalty may look at in one D step."""

    D: nn.Module
    reals: Tensor  # [N, C, H, W] or [N, D]
    fakes: Tensor  # detached generator output, same shape
    c_real: Tensor | None  # one-hot [N, c_dim]
    c_fake: Tensor | None
    real_logits: Tensor | None  # [N], from the main D pass (None in a lazy phase)
    noise: Source  # the trainer's SampleDraws on its noise stream (or a CPU generator)
    # grad_x of sum D(x) over the main pass's own reals / fakes, with its graph (create_graph), when the
    # trainer took it there for a penalty that asks for it (`Regularizer.gradient_at`); else None
    real_grad: Tensor | None = None  # [N, C, H, W] or [N, D], like reals
    fake_grad: Tensor | None = None


def _per_sample(u: Tensor, like: Tensor) -> Tensor:
    return u.view(-1, *([1] * (like.dim() - 1)))


def gradient_penalty(D: nn.Module, reals: Tensor, fakes: Tensor, c: Tensor | None, noise: Source) -> Tensor:
    """E[(|grad D(x_hat)|_2 - 1)^2] with x_hat = x + u(G(z) - x), u ~ U(0,1) per sample (Gulrajani 2017)."""
    u = per_sample(noise, reals.shape[0], lambda lead, g: torch.rand(*lead, generator=g)).to(reals.device, reals.dtype)
    x_hat = (reals + _per_sample(u, reals) * (fakes - reals)).detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(D(x_hat, c).sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


def input_gradient(D: nn.Module, images: Tensor, c: Tensor | None) -> Tensor:
    """grad_x sum D(x) at a detached copy x of `images`, differentiable in D's weights (a D pass of its own)."""
    x = images.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(D(x, c).sum(), x, create_graph=True)
    return grad  # like images


def r1_penalty(D: nn.Module, images: Tensor, c: Tensor | None, grad: Tensor | None = None) -> Tensor:
    """E[|grad_x D(x)|^2], zero-centred (Mescheder 2018): R1 on real images, R2 on detached fakes;
    the caller multiplies by gamma/2. `grad`: that gradient from the caller's own D pass; else D runs again."""
    if grad is None:
        grad = input_gradient(D, images, c)
    return grad.square().flatten(1).sum(1).mean()


@dataclass
class Regularizer:
    """A weighted penalty on one network, applied every `interval` steps of that network."""

    name: str
    network: str  # "D" or "G"
    weight: float
    interval: int

    @property
    def lazy(self) -> bool:
        return self.interval > 1

    @property
    def gradient_at(self) -> str | None:
        """'reals' or 'fakes' when the penalty is a function of grad_x D(x) at the D step's own inputs
        (R1, R2): the D phase may take that gradient from its main pass (`DBatch.real_grad` / `fake_grad`)
        instead of running D again. None for the others (the gradient penalty's x are interpolates)."""
        return {"r1": "reals", "r2": "fakes"}.get(self.name)

    def __call__(self, batch: DBatch) -> Tensor:
        if self.name == "gp":
            return self.weight * gradient_penalty(batch.D, batch.reals, batch.fakes, batch.c_real, batch.noise)
        if self.name == "r1":
            return 0.5 * self.weight * r1_penalty(batch.D, batch.reals, batch.c_real, batch.real_grad)
        if self.name == "r2":
            return 0.5 * self.weight * r1_penalty(batch.D, batch.fakes, batch.c_fake, batch.fake_grad)
        if self.name == "drift":
            return self.weight * batch.real_logits.square().mean()
        raise GankitError(f"unknown regularizer {self.name!r}")


@dataclass
class GBatch:
    """What a G penalty may look at in one lazy G phase."""

    G: nn.Module  # a style-based generator (mapping, synthesis, training_styles, pl_mean buffer)
    z: Tensor  # [B, z_dim]
    c: Tensor | None  # one-hot [B, c_dim]
    noise: Source  # the trainer's SampleDraws on its noise stream (or a CPU generator)
    world: int = 1  # processes sharing the batch: the mean path length is taken over all of them


def path_lengths(G: nn.Module, z: Tensor, c: Tensor | None, noise: Source) -> Tensor:
    """|J_wᵀ y| per sample [B] with y ~ N(0, I)/√(H·W): √(mean over ws layers of Σ_dims g²), g = ∇_ws Σ G(ws)·y."""
    if not hasattr(G, "training_styles"):
        raise GankitError("reg.pl (path length) needs a style-based generator (stylegan, stylegan2); set reg.pl.weight=0")
    ws = G.training_styles(z, c)  # [B, num_ws, w_dim] (with style mixing, as in training)
    images = G.synthesis(ws)  # [B, C, H, W]
    y = per_sample(noise, images.shape[0], lambda lead, g: torch.randn(*lead, *images.shape[1:], generator=g))
    y = y.to(images.device, images.dtype) / math.sqrt(images.shape[2] * images.shape[3])  # [B, C, H, W]
    (grad,) = torch.autograd.grad((images * y).sum(), ws, create_graph=True)
    return grad.square().sum(2).mean(1).sqrt()


@dataclass
class PathLengthRegularizer(Regularizer):
    """StyleGAN2's path-length penalty weight·(L − a)² with a ← a + decay·(mean L − a); `a` is G.pl_mean."""

    batch_shrink: int = 2
    decay: float = 0.01

    def __call__(self, batch: GBatch) -> Tensor:  # type: ignore[override]
        lengths = path_lengths(batch.G, batch.z, batch.c, batch.noise)  # [B]
        mean = batch.G.pl_mean.lerp(global_mean(lengths, batch.world).to(batch.G.pl_mean.dtype), self.decay)  # differentiable, as in ADA
        batch.G.pl_mean.copy_(mean.detach())
        return self.weight * (lengths - mean).square().mean()


class _SumOverProcesses(torch.autograd.Function):
    """all_reduce(SUM) and its adjoint: each process's input gets the sum of every process's output gradient."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        x = x.clone()
        torch.distributed.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        grad = grad.clone()
        torch.distributed.all_reduce(grad)
        return grad


def global_mean(x: Tensor, world: int) -> Tensor:
    """x.mean() over the samples of every process (differentiably), so `a` does not depend on the world size."""
    if world == 1:
        return x.mean()
    return _SumOverProcesses.apply(x.mean() / world)


def build_regularizers(cfg: RegConfig) -> list[Regularizer]:
    """The active penalties of a config (weight > 0): D's, and G's path length."""
    regs = [
        Regularizer("gp", "D", cfg.gp.weight, cfg.gp.interval),
        Regularizer("r1", "D", cfg.r1.gamma, cfg.r1.interval),
        Regularizer("r2", "D", cfg.r2.gamma, cfg.r2.interval),
        Regularizer("drift", "D", cfg.drift.weight, 1),
        PathLengthRegularizer("pl", "G", cfg.pl.weight, cfg.pl.interval, cfg.pl.batch_shrink, cfg.pl.decay),
    ]
    active = [r for r in regs if r.weight > 0]
    intervals = {r.interval for r in active if r.lazy and r.network == "D"}
    if len(intervals) > 1:
        raise GankitError("lazy D regularizers must share one interval (reg.*.interval)")
    return active


def lazy_compensation(regs: list[Regularizer], network: str) -> float:
    """c = k/(k+1) for a network with a lazy regularizer of interval k, else 1 (StyleGAN2)."""
    ks = [r.interval for r in regs if r.network == network and r.lazy]
    return ks[0] / (ks[0] + 1) if ks else 1.0


@torch.no_grad()
def clip_weights(module: nn.Module, value: float) -> None:
    """Clamp every parameter to [-value, value] (the seed's WGAN, after each critic step)."""
    for p in module.parameters():
        p.clamp_(-value, value)
