"""R3GAN (Huang, Gokaslan, Kuleshov & Tompkin, NeurIPS 2024): a plain modern ConvNet GAN (REFERENCE §9).

No normalisation, mapping network, styles, noise inputs, minibatch stddev or equalised lr. Both
networks are stages of residual blocks, one stage per resolution from 4×4 to the image:

    block(x) = x + conv1×1(act(conv3×3_grouped(act(conv1×1(x)))))   (width C -> C·expansion -> C)

where act is a learned bias then LeakyReLU(0.2). Each block's last conv starts at zero (the block is
the identity at initialisation); the others are drawn N(0, (g/√fan_in)²) with g = √(2/(1+0.2²))·L^(−1/4)
for L blocks in the network (variance scaling, Fixup-style). Resampling is a depthwise [1,3,3,1]⊗[1,3,3,1]/64
low-pass (×4 on the way up), with a 1×1 conv where the width changes.

G: z (⊕ a linear embedding of c) -> a learned 4×4 basis scaled per channel by a linear map of it ->
stages up to the image -> a 1×1 conv to the image channels (unbounded while training; clamped in eval).
D mirrors it: a 1×1 conv from the image, stages down to 4×4, a depthwise 4×4 conv and a linear layer;
conditional D projects its output vector onto a linear embedding of c.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import List

import torch
from torch import nn
from torch.nn import functional as F

from gankit.errors import GankitError
from gankit.models.base import Discriminator, DOptions, Generator, GOptions, ModelFamily, copy_shape, image_output
from gankit.registry import MODELS

Tensor = torch.Tensor
LRELU_GAIN = math.sqrt(2 / (1 + 0.2 ** 2))


@dataclass
class R3GANOptions:
    """Options both R3GAN networks share (D mirrors G's stages)."""

    widths: List[int] = field(default_factory=list)  # channels per stage, 4×4 first; empty = `width` everywhere
    width: int = 128
    blocks: int = 2  # residual blocks per stage
    expansion: int = 2  # inverted bottleneck: the 3×3 conv runs at width·expansion channels
    group_channels: int = 16  # channels per group of the grouped 3×3 conv (the paper: 16; ImageNet: 32)
    c_embed_dim: int = 0  # class embedding size; 0 = the paper's (G: z_dim, D: its 4×4 stage's width)
    filter: List[int] = field(default_factory=lambda: [1, 2, 1])  # resampling taps before the ×2 box (-> [1,3,3,1])


@dataclass
class R3GANGOptions(R3GANOptions, GOptions):
    z_dim: int = 64


@dataclass
class R3GANDOptions(R3GANOptions, DOptions):
    pass


def stage_widths(opts: R3GANOptions) -> list[int]:
    """Channels per stage from 4×4 to the image resolution, checked against the resolution."""
    log2 = math.log2(opts.img_resolution) if opts.img_resolution > 0 else 0.5
    if log2 != int(log2) or opts.img_resolution < 8:
        raise GankitError(f"R3GAN needs a power-of-two resolution >= 8 (e.g. resolution=32), got {opts.img_resolution}")
    n_stages = int(log2) - 1
    widths = list(opts.widths) or [opts.width] * n_stages
    if len(widths) != n_stages:
        raise GankitError(f"G.widths / D.widths need {n_stages} entries (4×4 to {opts.img_resolution}×{opts.img_resolution}), "
                          f"got {len(widths)}")
    for w in widths:
        if (w * opts.expansion) % opts.group_channels:
            raise GankitError(f"R3GAN width {w} × expansion {opts.expansion} is not a multiple of group_channels {opts.group_channels}")
    return widths


def msr_init(weight: Tensor, gain: float) -> Tensor:
    """N(0, (gain/√fan_in)²) in place, fan_in = input channels per group × kernel area (He init)."""
    fan_in = weight[0].numel()
    with torch.no_grad():
        return weight.normal_(0, gain / math.sqrt(fan_in))


def conv(c_in: int, c_out: int, kernel: int, gain: float = 1.0, groups: int = 1, padding: int | None = None) -> nn.Conv2d:
    """A bias-free conv ('same' padding unless given), MSR-initialised with `gain` (0 = zeros)."""
    padding = (kernel - 1) // 2 if padding is None else padding
    layer = nn.Conv2d(c_in, c_out, kernel, padding=padding, groups=groups, bias=False)
    msr_init(layer.weight, gain)
    return layer


def linear(c_in: int, c_out: int, gain: float = 1.0) -> nn.Linear:
    layer = nn.Linear(c_in, c_out, bias=False)
    msr_init(layer.weight, gain)
    return layer


class BiasedActivation(nn.Module):
    """x + bias (per channel), then LeakyReLU(0.2): the biases of R3GAN live here, not in the convs."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x + self.bias.view(1, -1, *([1] * (x.dim() - 2))).to(x.dtype), 0.2)


class ResidualBlock(nn.Module):
    """x + conv1×1(act(grouped conv3×3(act(conv1×1(x))))); the last conv starts at zero."""

    def __init__(self, channels: int, opts: R3GANOptions, total_blocks: int) -> None:
        super().__init__()
        expanded = channels * opts.expansion
        gain = LRELU_GAIN * total_blocks ** (-1 / 4)  # L^(-1/(2m-2)) for m = 3 layers per block
        self.conv1 = conv(channels, expanded, 1, gain)
        self.conv2 = conv(expanded, expanded, 3, gain, groups=expanded // opts.group_channels)
        self.conv3 = conv(expanded, channels, 1, 0.0)
        self.act1, self.act2 = BiasedActivation(expanded), BiasedActivation(expanded)

    def forward(self, x: Tensor) -> Tensor:  # [N, C, H, W] -> same
        return x + self.conv3(self.act2(self.conv2(self.act1(self.conv1(x)))))


def lowpass_kernel(taps: list[int]) -> Tensor:
    """The 2-D resampling kernel: taps convolved with the ×2 box [1, 1], outer product, sum 1."""
    k = torch.tensor(taps, dtype=torch.float64)
    k = torch.nn.functional.conv1d(k.view(1, 1, -1), torch.ones(1, 1, 2, dtype=torch.float64), padding=1).flatten()
    k2 = torch.outer(k, k)
    return (k2 / k2.sum()).float()  # [K, K]; [1,2,1] -> [1,3,3,1]⊗[1,3,3,1]/64


class Resample(nn.Module):
    """Depthwise ×2 up- (transposed conv, kernel ×4) or down-sampling (strided conv) with the low-pass
    kernel, with a 1×1 conv where the width changes (before going up, after going down)."""

    def __init__(self, c_in: int, c_out: int, taps: list[int], up: bool) -> None:
        super().__init__()
        self.up = up
        self.register_buffer("kernel", lowpass_kernel(taps), persistent=False)
        self.padding = len(taps) // 2
        self.linear = conv(c_in, c_out, 1) if c_in != c_out else None

    def forward(self, x: Tensor) -> Tensor:
        if self.up and self.linear is not None:
            x = self.linear(x)
        channels = x.shape[1]
        if self.up:
            weight = (4 * self.kernel).to(x.dtype).expand(channels, 1, *self.kernel.shape)
            x = F.conv_transpose2d(x, weight, stride=2, padding=self.padding, groups=channels)  # [N, C, 2H, 2W]
        else:
            weight = self.kernel.to(x.dtype).expand(channels, 1, *self.kernel.shape)
            x = F.conv2d(x, weight, stride=2, padding=self.padding, groups=channels)  # [N, C, H/2, W/2]
        if not self.up and self.linear is not None:
            x = self.linear(x)
        return x


class R3GANGenerator(Generator):
    def __init__(self, opts: R3GANGOptions) -> None:
        super().__init__()
        copy_shape(self, opts)
        widths = stage_widths(opts)
        total = opts.blocks * len(widths)
        embed_dim = (opts.c_embed_dim or opts.z_dim) if opts.c_dim else 0
        self.embed = linear(opts.c_dim, embed_dim) if opts.c_dim else None
        self.basis = nn.Parameter(torch.randn(widths[0], 4, 4))  # the learned 4×4 basis
        self.basis_scale = linear(opts.z_dim + embed_dim, widths[0])  # per-channel scale of the basis from z (⊕ c)
        self.stages = nn.ModuleList()
        for i, width in enumerate(widths):
            layers: list[nn.Module] = [] if i == 0 else [Resample(widths[i - 1], width, opts.filter, up=True)]
            layers += [ResidualBlock(width, opts, total) for _ in range(opts.blocks)]
            self.stages.append(nn.Sequential(*layers))
        self.to_image = conv(widths[-1], opts.img_channels, 1)

    def forward(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        h = z if self.embed is None else torch.cat([z, self.embed(c)], dim=1)  # [N, z_dim (+ embed)]
        x = self.basis.unsqueeze(0) * self.basis_scale(h).view(len(h), -1, 1, 1)  # [N, C0, 4, 4]
        for stage in self.stages:
            x = stage(x)  # [N, C_i, 4·2^i, 4·2^i]
        return image_output(self.to_image(x), self.training)  # [N, C, R, R]


class R3GANDiscriminator(Discriminator):
    def __init__(self, opts: R3GANDOptions) -> None:
        super().__init__()
        copy_shape(self, opts)
        widths = stage_widths(opts)[::-1]  # image resolution first
        total = opts.blocks * len(widths)
        self.from_image = conv(opts.img_channels, widths[0], 1)
        self.stages = nn.ModuleList()
        for i, width in enumerate(widths):
            layers: list[nn.Module] = [ResidualBlock(width, opts, total) for _ in range(opts.blocks)]
            if i + 1 < len(widths):
                layers.append(Resample(width, widths[i + 1], opts.filter, up=False))
            self.stages.append(nn.Sequential(*layers))
        out_dim = (opts.c_embed_dim or widths[-1]) if opts.c_dim else 1
        self.basis = conv(widths[-1], widths[-1], 4, groups=widths[-1], padding=0)  # depthwise 4×4 -> [N, C, 1, 1]
        self.head = linear(widths[-1], out_dim)
        self.embed = linear(opts.c_dim, out_dim, gain=1 / math.sqrt(out_dim)) if opts.c_dim else None

    def forward(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        x = self.from_image(x)  # [N, C_R, R, R]
        for stage in self.stages:
            x = stage(x)  # ... down to [N, C0, 4, 4]
        out = self.head(self.basis(x).flatten(1))  # [N, 1] or [N, embed]
        if self.embed is None:
            return out.squeeze(1)  # [N]
        if c is None:
            raise GankitError(f"this R3GAN discriminator is conditional (c_dim={self.c_dim}): pass class labels")
        return (out * self.embed(c)).sum(1)  # projection onto the class embedding [N]


MODELS.register("r3gan")(ModelFamily(
    name="r3gan", G_options=R3GANGOptions, D_options=R3GANDOptions,
    build_G=R3GANGenerator, build_D=R3GANDiscriminator,
    summary="R3GAN (2024): residual grouped-conv ConvNet, no normalisation or StyleGAN tricks; use loss=rpgan + R1 + R2",
))
