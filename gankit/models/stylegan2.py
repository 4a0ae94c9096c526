"""StyleGAN2 (Karras et al. 2020): modulated/demodulated convs, skip-connection G, residual D (REFERENCE §3).

G: the mapping network of `stylegan.py`; synthesis from a 4×4 learned constant (randn) — or, with
`input: fourier`, the transformable Fourier-feature input of StyleGAN3's config B, so the
equivariance metrics can measure StyleGAN2 — then per resolution an upsampling modulated conv
(transposed conv + [1,3,3,1] FIR, gain 4), a second modulated conv, and a ToRGB (1×1 modulated, no
demodulation) added to the [1,3,3,1]-upsampled image of the previous resolution. Each conv adds
noise (N(0,1) × a scalar strength initialised to 0), bias, lrelu·√2 and an optional clamp.
num_ws = 2·log2(R) − 2: ToRGB shares its w with the next block's first conv. D is
`ResidualDiscriminator`. Path-length and lazy R1 regularization live in gankit.losses.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from gankit.errors import GankitError
from gankit.models.base import ModelFamily
from gankit.models.stylegan import (MappingNetwork, ResidualDiscriminator, StyleDOptions, StyleGenerator, StyleGOptions,
                                    channels_at, check_resolution)
from gankit.nn.draws import Source
from gankit.nn.fourier import SynthesisInput
from gankit.nn.modulated import ModulatedConv2d, make_filter, upsample2d
from gankit.registry import MODELS

Tensor = torch.Tensor

# The Fourier input at 4×4: frequencies within radius 1 of the input plane, sampled 4 per unit
# (the StyleGAN3 class fades features out towards the Nyquist rate 2, which they stay below).
FOURIER_SAMPLING_RATE, FOURIER_BANDWIDTH = 4, 1


@dataclass
class StyleGAN2GOptions(StyleGOptions):
    channel_base: int = 32768
    truncation_cutoff: Optional[int] = None  # ψ applies to every w unless a cutoff is given
    input: str = "const"  # const | fourier (StyleGAN3 config B)
    conv_clamp: Optional[float] = None  # clamp activations to ±conv_clamp (fp16 safety: 256)


@dataclass
class StyleGAN2DOptions(StyleDOptions):
    channel_base: int = 32768


class SynthesisBlock(nn.Module):
    """One resolution: [input or up-conv] -> conv -> ToRGB, image = up(previous image) + ToRGB(x)."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, img_channels: int,
                 input_kind: str, conv_clamp: float | None) -> None:
        super().__init__()
        self.resolution = resolution
        self.first = resolution == 4
        if self.first and input_kind == "const":
            self.const = nn.Parameter(torch.randn(out_channels, 4, 4))
        elif self.first:
            self.input = SynthesisInput(w_dim, out_channels, 4, FOURIER_SAMPLING_RATE, FOURIER_BANDWIDTH)
        else:
            self.conv0 = ModulatedConv2d(in_channels, out_channels, w_dim, resolution, up=2, conv_clamp=conv_clamp)
        self.conv1 = ModulatedConv2d(out_channels, out_channels, w_dim, resolution, conv_clamp=conv_clamp)
        self.torgb = ModulatedConv2d(out_channels, img_channels, w_dim, resolution, kernel_size=1, demodulate=False,
                                     use_noise=False, activation="linear", conv_clamp=conv_clamp)
        self.num_conv = 1 if self.first else 2
        self.register_buffer("resample_filter", make_filter([1, 3, 3, 1]), persistent=False)

    def forward(self, x: Tensor | None, img: Tensor | None, ws: Tensor, noise_mode: str,
                generator: Source) -> tuple[Tensor, Tensor]:
        """ws [N, num_conv + 1, w_dim] -> (features [N, C, r, r], image [N, C_img, r, r])."""
        if self.first:
            x = self.const.expand(ws.shape[0], -1, -1, -1) if hasattr(self, "const") else self.input(ws[:, 0])
            x = self.conv1(x, ws[:, 0], noise_mode, generator)
        else:
            x = self.conv0(x, ws[:, 0], noise_mode, generator)
            x = self.conv1(x, ws[:, 1], noise_mode, generator)
        y = self.torgb(x, ws[:, self.num_conv])
        img = y if img is None else upsample2d(img, self.resample_filter) + y
        return x, img


class StyleGAN2Synthesis(nn.Module):
    """ws [N, num_ws, w_dim] -> image [N, C, R, R] through skip-connected synthesis blocks."""

    def __init__(self, opts: StyleGAN2GOptions) -> None:
        super().__init__()
        if opts.input not in ("const", "fourier"):
            raise GankitError(f"G.input must be const or fourier, got {opts.input!r}")
        log2 = check_resolution(opts.img_resolution)
        ch = lambda r: channels_at(r, opts.channel_base, opts.channel_max)  # noqa: E731
        self.blocks = nn.ModuleList(
            SynthesisBlock(ch(max(2 ** r // 2, 4)), ch(2 ** r), opts.w_dim, 2 ** r, opts.img_channels, opts.input,
                           opts.conv_clamp) for r in range(2, log2 + 1))
        self.num_ws = 2 * log2 - 2
        self.generator: Source = None  # noise inputs draw from it (the trainer's SampleDraws)

    @property
    def input(self) -> SynthesisInput:
        """The Fourier-feature input (G.input=fourier) whose `transform` moves the picture."""
        first = self.blocks[0]
        if not hasattr(first, "input"):
            raise AttributeError("this StyleGAN2 has a constant input (G.input=const); use G.input=fourier")
        return first.input

    def forward(self, ws: Tensor, noise_mode: str = "random") -> Tensor:
        x = img = None
        index = 0
        for block in self.blocks:
            x, img = block(x, img, ws[:, index:index + block.num_conv + 1], noise_mode, self.generator)
            index += block.num_conv
        return img  # [N, C, R, R]


class StyleGAN2Generator(StyleGenerator):
    def __init__(self, opts: StyleGAN2GOptions) -> None:
        super().__init__(opts)
        self.synthesis = StyleGAN2Synthesis(opts)
        self.mapping = MappingNetwork(opts.z_dim, opts.c_dim, opts.w_dim, self.synthesis.num_ws, opts.mapping_layers,
                                      opts.mapping_lr, opts.w_avg_beta, opts.truncation_cutoff)


def build_residual_d(opts: StyleGAN2DOptions) -> ResidualDiscriminator:
    """The residual D from D.* options."""
    return ResidualDiscriminator(opts.img_resolution, opts.img_channels, opts.c_dim, opts.channel_base,
                                 opts.channel_max, opts.mbstd_group_size, opts.mbstd_num_channels, opts.conv_clamp)


MODELS.register("stylegan2")(ModelFamily(
    name="stylegan2", G_options=StyleGAN2GOptions, D_options=StyleGAN2DOptions,
    build_G=StyleGAN2Generator, build_D=build_residual_d,
    summary="StyleGAN2 (2020): modulated convs, skip G, residual D, path length + lazy R1; input const|fourier",
))
