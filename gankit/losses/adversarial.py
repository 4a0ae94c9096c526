"""Adversarial losses as pure functions of logits; D scores real high.

D(x) = sigmoid(logit) for the probabilistic losses, so -log D = softplus(-logit) and
-log(1 - D) = softplus(logit), computed stably. Each loss returns scalar means.

A relativistic loss (`relativistic=True`, RpGAN) pairs real[i] with fake[i]: its G loss also
takes D's logits on a real batch, `g_loss(fake_logits, real_logits)`; call `generator_loss`,
which passes them only to the losses that use them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch.nn.functional import relu, softplus

from gankit.registry import LOSSES

Tensor = torch.Tensor


@dataclass(frozen=True)
class AdversarialLoss:
    """A pair of pure functions: `d_loss(real_logits, fake_logits)` and `g_loss(fake_logits)`."""

    name: str
    d_loss: Callable[[Tensor, Tensor], Tensor]
    g_loss: Callable[..., Tensor]  # (fake_logits) or, relativistic, (fake_logits, real_logits)
    summary: str
    relativistic: bool = False  # G's loss needs D's logits on a real batch paired with the fakes

    def generator_loss(self, fake: Tensor, real: Tensor | None = None) -> Tensor:
        """G's loss; `real` (D's logits on reals paired with the fakes) is used by relativistic losses only."""
        if not self.relativistic:
            return self.g_loss(fake)
        if real is None:
            raise ValueError(f"loss {self.name!r} is relativistic: pass D's logits on a real batch")
        return self.g_loss(fake, real)


def _register(name: str, d_loss: Callable, g_loss: Callable, summary: str, relativistic: bool = False) -> None:
    LOSSES.register(name)(AdversarialLoss(name, d_loss, g_loss, summary, relativistic))


def d_logistic(real: Tensor, fake: Tensor) -> Tensor:
    """-E log D(x) - E log(1 - D(G(z)))."""
    return softplus(-real).mean() + softplus(fake).mean()


def g_minimax(fake: Tensor) -> Tensor:
    """E log(1 - D(G(z))): Goodfellow's original, saturating generator loss."""
    return -softplus(fake).mean()


def g_nonsaturating(fake: Tensor) -> Tensor:
    """-E log D(G(z)): the non-saturating generator loss."""
    return softplus(-fake).mean()


def d_seed_bce(real: Tensor, fake: Tensor) -> Tensor:
    """The seed's D loss: the mean of the real and fake BCE terms (half of `d_logistic`)."""
    return 0.5 * d_logistic(real, fake)


def d_wasserstein(real: Tensor, fake: Tensor) -> Tensor:
    """E D(G(z)) - E D(x): the critic's estimate of -W1."""
    return fake.mean() - real.mean()


def g_wasserstein(fake: Tensor) -> Tensor:
    return -fake.mean()


def d_hinge(real: Tensor, fake: Tensor) -> Tensor:
    return relu(1 - real).mean() + relu(1 + fake).mean()


def d_least_squares(real: Tensor, fake: Tensor) -> Tensor:
    return 0.5 * ((real - 1) ** 2).mean() + 0.5 * (fake ** 2).mean()


def g_least_squares(fake: Tensor) -> Tensor:
    return 0.5 * ((fake - 1) ** 2).mean()


def d_relativistic_pairing(real: Tensor, fake: Tensor) -> Tensor:
    """E softplus(-(D(x_i) - D(G(z_i)))): RpGAN (Jolicoeur-Martineau 2019; R3GAN), real i paired with fake i."""
    return softplus(-(real - fake)).mean()


def g_relativistic_pairing(fake: Tensor, real: Tensor) -> Tensor:
    """E softplus(-(D(G(z_i)) - D(x_i))): the mirror of the RpGAN D loss (reals carry no gradient to G)."""
    return softplus(-(fake - real.detach())).mean()


_register("minimax", d_logistic, g_minimax, "Goodfellow 2014 minimax: G minimises E log(1 - D(G(z)))")
_register("nonsaturating", d_logistic, g_nonsaturating, "logistic D, G minimises -E log D(G(z))")
_register("bce", d_seed_bce, g_nonsaturating, "the seed's BCELoss: D loss (real + fake) / 2, G vs ones")
_register("wasserstein", d_wasserstein, g_wasserstein, "WGAN critic: D maximises E D(x) - E D(G(z))")
_register("hinge", d_hinge, g_wasserstein, "SNGAN/BigGAN hinge loss")
_register("lsgan", d_least_squares, g_least_squares, "least squares (Mao et al. 2017), targets 1/0")
_register("rpgan", d_relativistic_pairing, g_relativistic_pairing,
          "relativistic pairing (R3GAN): D minimises softplus(D(G(z)) - D(x)) per pair; use with R1 + R2", relativistic=True)
