"""The seed's fully connected GANs (§2.1 GAN, §4.2 WGAN critic, §5.2 conditional GAN) and toy MLPs.

Faithful to the seed: LeakyReLU 0.2, Linear layers with PyTorch's default init, Tanh output for
images, and `nn.BatchNorm1d(out, 0.8)` in the seed GAN's generator, whose second argument is
**eps** (0.8), not momentum; the `seed-gan` preset keeps that quirk (`G.bn_eps: 0.8`), all other
presets use the normal eps. D returns logits; the seed's Sigmoid lives in the loss. Labels enter
as an embedding (one-hot times a learned table, `nn.Embedding` init) concatenated with the input.
Toy models use `output: linear` so points can land anywhere in the data's own coordinates.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import List

import torch
from torch import nn

from gankit.errors import GankitError
from gankit.models.base import Discriminator, DOptions, Generator, GOptions, ModelFamily, copy_shape
from gankit.registry import MODELS


@dataclass
class MLPGOptions(GOptions):
    data_dim: int = 0  # > 0: vector data [N, data_dim] instead of images
    widths: List[int] = field(default_factory=lambda: [128, 256, 512, 1024])
    norm: str = "batch"  # batch | none
    norm_first: bool = False  # the seed's first block has no BatchNorm
    bn_eps: float = 1e-5
    slope: float = 0.2
    output: str = "tanh"  # tanh | linear
    c_embed_dim: int = 0  # 0 = c_dim (the seed's Embedding(num_classes, num_classes))
    latent_mixture: int = 0  # K > 0: DeLiGAN latent, z -> one of K learned Gaussians (LatentMixture); 0 = off
    latent_mixture_std: float = 0.2  # initial std of every component (DeLiGAN: 0.2; means start uniform in [-1, 1])


@dataclass
class MLPDOptions(DOptions):
    data_dim: int = 0
    widths: List[int] = field(default_factory=lambda: [512, 256])
    dropout: float = 0.0
    slope: float = 0.2
    maxout: int = 1  # k > 1: maxout units over k linear pieces instead of LeakyReLU (PacGAN's toy D: 5)
    c_embed_dim: int = 0


def _out_shape(opts: MLPGOptions | MLPDOptions) -> tuple[int, ...]:
    if opts.data_dim > 0:
        return (opts.data_dim,)
    return (opts.img_channels, opts.img_resolution, opts.img_resolution)


class LatentMixture(nn.Module):
    """DeLiGAN's latent (Gurumurthy et al. 2017): z ~ N(0, I) [..., n, d] -> a draw of a K-component Gaussian
    mixture with learned means and stds [..., n, d - 1], so G can map disconnected supports without mass between.

    Component k = floor(Phi(z_0) * K) is uniform over 0..K-1 and a deterministic function of z; the other d - 1
    coordinates become mu_k + sigma_k * z_1:. Stacked members (gankit.models.ensemble) hold [E, K, d - 1] and take
    z [E, n, d]."""

    def __init__(self, components: int, z_dim: int, std: float = 0.2) -> None:
        super().__init__()
        if components < 1 or z_dim < 2 or std <= 0:
            raise GankitError("G.latent_mixture needs K >= 1 components, G.z_dim >= 2 (one coordinate picks the "
                              "component) and G.latent_mixture_std > 0")
        self.components = components
        self.mu = nn.Parameter(torch.empty(components, z_dim - 1).uniform_(-1.0, 1.0))  # [K, d - 1], DeLiGAN's init
        self.log_sigma = nn.Parameter(torch.full((components, z_dim - 1), math.log(std)))  # [K, d - 1]

    def component(self, z: torch.Tensor) -> torch.Tensor:
        """The component index of each latent: z [..., n, d] -> long [..., n] in 0..K-1, uniform when z_0 ~ N(0, 1)."""
        u = torch.special.ndtr(z[..., 0].double())  # [..., n], uniform in (0, 1)
        return (u * self.components).long().clamp_(0, self.components - 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        k = self.component(z)  # [..., n]
        if self.mu.dim() == 2:
            mu, log_sigma = self.mu[k], self.log_sigma[k]  # [..., n, d - 1]
        else:  # stacked: [E, K, d - 1] gathered per member with k [E, n]
            mu = torch.take_along_dim(self.mu, k[..., None], dim=-2)
            log_sigma = torch.take_along_dim(self.log_sigma, k[..., None], dim=-2)
        return mu + log_sigma.exp() * z[..., 1:]


class MLPGenerator(Generator):
    """z (+ label embedding) -> [LatentMixture] -> Linear/[BN]/LeakyReLU blocks -> Linear -> Tanh or identity."""

    def __init__(self, opts: MLPGOptions) -> None:
        super().__init__()
        if opts.norm not in ("batch", "none") or opts.output not in ("tanh", "linear"):
            raise GankitError("G.norm must be batch|none and G.output tanh|linear")
        copy_shape(self, opts)
        self.out_shape = _out_shape(opts)
        embed_dim = (opts.c_embed_dim or opts.c_dim) if opts.c_dim else 0
        self.embed = nn.Embedding(opts.c_dim, embed_dim) if opts.c_dim else None
        layers: list[nn.Module] = []
        width_in = opts.z_dim + embed_dim
        if opts.latent_mixture:
            if embed_dim:
                raise GankitError("G.latent_mixture works with unconditional models only (c_dim = 0)")
            layers.append(LatentMixture(opts.latent_mixture, opts.z_dim, opts.latent_mixture_std))
            width_in -= 1
        for i, width in enumerate(opts.widths):
            layers.append(nn.Linear(width_in, width))
            if opts.norm == "batch" and (i > 0 or opts.norm_first):
                layers.append(nn.BatchNorm1d(width, eps=opts.bn_eps))
            layers.append(nn.LeakyReLU(opts.slope))
            width_in = width
        layers.append(nn.Linear(width_in, math.prod(self.out_shape)))
        if opts.output == "tanh":
            layers.append(nn.Tanh())
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        h = z  # [N, z_dim]
        if self.embed is not None:
            h = torch.cat([z, c @ self.embed.weight], dim=1)  # [N, z_dim + embed]
        return self.net(h).view(z.shape[0], *self.out_shape)


class Maxout(nn.Module):
    """Max over k consecutive features of the last axis: [..., C*k] -> [..., C] (Goodfellow 2013)."""

    def __init__(self, k: int) -> None:
        super().__init__()
        self.k = k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unflatten(-1, (-1, self.k)).amax(-1)


class MLPDiscriminator(Discriminator):
    """Flattened input (+ label embedding) -> Linear/LeakyReLU[/Dropout] blocks -> one logit."""

    def __init__(self, opts: MLPDOptions) -> None:
        super().__init__()
        copy_shape(self, opts)
        embed_dim = (opts.c_embed_dim or opts.c_dim) if opts.c_dim else 0
        self.embed = nn.Embedding(opts.c_dim, embed_dim) if opts.c_dim else None
        layers: list[nn.Module] = []
        width_in = math.prod(_out_shape(opts)) + embed_dim
        for width in opts.widths:
            if opts.maxout > 1:
                layers += [nn.Linear(width_in, width * opts.maxout), Maxout(opts.maxout)]
            else:
                layers += [nn.Linear(width_in, width), nn.LeakyReLU(opts.slope)]
            if opts.dropout > 0:
                layers.append(nn.Dropout(opts.dropout))
            width_in = width
        layers.append(nn.Linear(width_in, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        h = x.flatten(1)  # [N, C*H*W] or [N, D]
        if self.embed is not None:
            h = torch.cat([h, c @ self.embed.weight], dim=1)
        return self.net(h).squeeze(1)  # [N]


MODELS.register("mlp")(ModelFamily(
    name="mlp", G_options=MLPGOptions, D_options=MLPDOptions,
    build_G=MLPGenerator, build_D=MLPDiscriminator, vector_data=True,
    summary="fully connected G/D of the seed (GAN, WGAN, cGAN) and toy recipes",
))
