"""StyleGAN3 (Karras et al. 2021, "Alias-Free GAN"): configs T (translation) and R (rotation), REFERENCE §4.

The synthesis network treats every feature map as a band-limited continuous signal sampled on a
grid. The Fourier-feature input (gankit.nn.fourier) is followed by N + 1 layers; layer i has a
cutoff f_c, a stopband f_t, a sampling rate s, a half-width f_h = max(f_t, s/2) − f_c, a size s + 2·10
(the last two exactly R) and C channels, all from the paper's formulas (`synthesis_schedule`).
Each layer: magnitude-EMA input gain → modulated conv (3×3 for T, 1×1 for R; "full" padding) →
filtered leaky ReLU (bias, ×up with a Kaiser low-pass, lrelu·√2, clamp 256, Kaiser low-pass ÷down,
with the temporary rate max(s_in, s_out)·2). R uses radially symmetric jinc down filters in the
non-critical layers and doubles channel_base/channel_max (SG3's train.py does this for G only).
The last N_crit layers and ToRGB are critically sampled (f_c = s/2). ToRGB is a 1×1 modulated conv
without demodulation (styles /√C_in), linear, then the output is multiplied by 0.25. No noise
inputs, no skips, no style mixing in the official recipe (mixing_prob 0).

`resampling: nearest` replaces the low-pass filters by nearest-neighbour upsampling and plain
subsampling (same sizes): the aliasing baseline that the equivariance tests and lab compare with.
The mapping network (2 layers, w̄ β 0.998) and the discriminator are StyleGAN2's (models/stylegan.py).

The input-gain EMA updates on every forward in training mode with β = 0.5^(N·P/20,000) for a batch
of N on each of P processes (`set_world`; SG3's train.py uses the global batch), so "halves per 20k
images" counts the images G renders in the whole job, whatever the number of processes; our trainer
runs G in training mode in both phases (two batches per step), where SG3 updates it in the D phase only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
import torch.utils.checkpoint
from torch import nn
from torch.nn import functional as F

from gankit.errors import GankitError
from gankit.models.base import GOptions, ModelFamily
from gankit.models.stylegan import MappingNetwork, StyleGenerator
from gankit.models.stylegan2 import StyleGAN2DOptions, build_residual_d
from gankit.nn.filters import filtered_lrelu, lowpass_filter
from gankit.nn.fourier import SynthesisInput
from gankit.nn.layers import EqualizedLinear
from gankit.registry import MODELS

Tensor = torch.Tensor


@dataclass
class StyleGAN3GOptions(GOptions):
    config: str = "t"  # t (translation equivariant, 3×3 convs) | r (rotation: 1×1 convs, radial filters, 2× channels)
    z_dim: int = 512
    w_dim: int = 512
    mapping_layers: int = 2
    mapping_lr: float = 0.01  # lr multiplier of the mapping network
    w_avg_beta: float = 0.998
    channel_base: int = 32768  # C[i] = min((channel_base/2)/f_c[i], channel_max); config r doubles both
    channel_max: int = 512
    num_layers: int = 14  # N: layers L0..L(N−1) plus ToRGB
    num_critical: int = 2  # critically sampled layers before ToRGB
    margin_size: int = 10  # extra pixels on each side of the non-final layers
    first_cutoff: float = 2.0  # f_c,0
    first_stopband: float = 2 ** 2.1  # f_t,0
    last_stopband_rel: float = 2 ** 0.3  # f_t,N = f_c,N · this
    filter_size: int = 6  # taps per unit of up/down factor
    lrelu_upsampling: int = 2  # m: the nonlinearity runs at m× the higher of the two sampling rates
    conv_clamp: Optional[float] = 256.0
    output_scale: float = 0.25
    magnitude_ema_kimg: float = 20.0  # the input-gain EMA halves per this many thousand images
    resampling: str = "filtered"  # filtered (alias-free) | nearest (the aliasing baseline)
    mixing_prob: float = 0.0
    truncation_cutoff: Optional[int] = None  # ψ applies to ws[:cutoff] (null = all)
    checkpoint_layers: bool = False  # recompute each layer in the backward pass: far less memory, more compute


@dataclass
class StyleGAN3DOptions(StyleGAN2DOptions):
    """StyleGAN2's residual D, unchanged (paper F), with clamp 256 (SG3 train.py); R keeps D's channels."""

    conv_clamp: Optional[float] = 256.0


@dataclass
class Schedule:
    """Per-layer parameters i = 0..N (index N is ToRGB); floats in image-width units."""

    cutoffs: np.ndarray  # f_c
    stopbands: np.ndarray  # f_t
    sampling_rates: np.ndarray  # s
    half_widths: np.ndarray  # f_h
    sizes: np.ndarray  # pixels per side
    channels: np.ndarray  # C


def synthesis_schedule(resolution: int, num_layers: int = 14, num_critical: int = 2, first_cutoff: float = 2.0,
                       first_stopband: float = 2 ** 2.1, last_stopband_rel: float = 2 ** 0.3, margin_size: int = 10,
                       channel_base: int = 32768, channel_max: int = 512, img_channels: int = 3) -> Schedule:
    """The paper's layer schedule (App. F.1; SG3 SynthesisNetwork) for an R×R image."""
    last_cutoff = resolution / 2
    last_stopband = last_cutoff * last_stopband_rel
    e = np.minimum(np.arange(num_layers + 1) / (num_layers - num_critical), 1)
    cutoffs = first_cutoff * (last_cutoff / first_cutoff) ** e
    stopbands = first_stopband * (last_stopband / first_stopband) ** e
    sampling_rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, resolution))))
    half_widths = np.maximum(stopbands, sampling_rates / 2) - cutoffs
    sizes = sampling_rates + margin_size * 2
    sizes[-2:] = resolution
    channels = np.rint(np.minimum((channel_base / 2) / cutoffs, channel_max))
    channels[-1] = img_channels
    return Schedule(cutoffs, stopbands, sampling_rates, half_widths, sizes.astype(int), channels.astype(int))


def modulated_conv2d_sg3(x: Tensor, weight: Tensor, styles: Tensor, demodulate: bool, input_gain: Tensor | None) -> Tensor:
    """SG3's modulated conv with "full" padding k − 1: x [N, I, H, W] -> [N, O, H + k − 1, W + k − 1].

    When demodulating, w is first normalised by its RMS per output channel and s by its RMS over
    the whole tensor; the result is then multiplied by `input_gain`. Computed as scale the input,
    one shared conv, scale the output — the same maths as the per-sample grouped conv.
    """
    k = weight.shape[-1]
    if demodulate:
        weight = weight * weight.square().mean(dim=(1, 2, 3), keepdim=True).rsqrt()
        styles = styles * styles.square().mean().rsqrt()
    scale = styles if input_gain is None else styles * input_gain  # [N, I]
    x = F.conv2d(x * scale[:, :, None, None].to(x.dtype), weight.to(x.dtype), padding=k - 1)
    if demodulate:
        dcoefs = (styles.square() @ weight.square().sum(dim=(2, 3)).t() + 1e-8).rsqrt()  # [N, O]
        x = x * dcoefs[:, :, None, None].to(x.dtype)
    return x


class SynthesisLayer(nn.Module):
    """One alias-free layer: input gain → modulated conv → bias + filtered leaky ReLU (or ToRGB)."""

    def __init__(self, w_dim: int, in_channels: int, out_channels: int, in_size: int, out_size: int,
                 in_rate: float, out_rate: float, in_cutoff: float, out_cutoff: float, in_half_width: float,
                 out_half_width: float, is_torgb: bool, is_critical: bool, conv_kernel: int = 3, filter_size: int = 6,
                 lrelu_upsampling: int = 2, radial: bool = False, conv_clamp: float | None = 256.0,
                 magnitude_ema_kimg: float = 20.0, resampling: str = "filtered", checkpoint: bool = False) -> None:
        super().__init__()
        self.is_torgb, self.is_critical, self.checkpoint = is_torgb, is_critical, checkpoint
        self.in_channels, self.out_channels, self.in_size, self.out_size = in_channels, out_channels, in_size, out_size
        self.conv_kernel = 1 if is_torgb else conv_kernel
        self.conv_clamp, self.magnitude_ema_nimg = conv_clamp, magnitude_ema_kimg * 1000
        tmp_rate = max(in_rate, out_rate) * (1 if is_torgb else lrelu_upsampling)
        self.up = int(round(tmp_rate / in_rate))
        self.down = int(round(tmp_rate / out_rate))
        self.affine = EqualizedLinear(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, self.conv_kernel, self.conv_kernel))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.register_buffer("magnitude_ema", torch.ones([]))
        self.world = 1  # processes rendering their slice of each batch (StyleGAN3Generator.set_world)
        up_taps = filter_size * self.up if self.up > 1 and not is_torgb else 1
        down_taps = filter_size * self.down if self.down > 1 and not is_torgb else 1
        self.down_radial = radial and not is_critical
        if resampling == "nearest":  # zero insertion + a box of `up` ones = sample-and-hold; plain subsampling
            up_taps, down_taps, self.down_radial = self.up, 1, False
            f_up = torch.full((self.up,), 1.0 / self.up) if self.up > 1 else None
            f_down = None
        elif resampling == "filtered":
            f_up = lowpass_filter(up_taps, in_cutoff, 2 * in_half_width, tmp_rate)
            f_down = lowpass_filter(down_taps, out_cutoff, 2 * out_half_width, tmp_rate, radial=self.down_radial)
        else:
            raise GankitError(f"G.resampling must be filtered or nearest, got {resampling!r}")
        self.register_buffer("up_filter", f_up)
        self.register_buffer("down_filter", f_down)
        # Output size before downsampling minus the upsampled input size, plus what the filters take away;
        # pad_lo shifts sample locations to the symmetric interpretation (pixel centres, App. C.3).
        pad_total = (out_size - 1) * self.down + 1 - (in_size + self.conv_kernel - 1) * self.up + up_taps + down_taps - 2
        pad_lo = (pad_total + self.up) // 2
        self.padding = (pad_lo, pad_total - pad_lo, pad_lo, pad_total - pad_lo)

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        """x [N, C_in, in_size, in_size], w [N, w_dim] -> [N, C_out, out_size, out_size]."""
        if self.training:  # track the input's mean square; the gain keeps conv inputs at unit magnitude
            beta = 0.5 ** (x.shape[0] * self.world / self.magnitude_ema_nimg)  # the images of all processes
            self.magnitude_ema.copy_(x.detach().float().square().mean().lerp(self.magnitude_ema, beta))
        input_gain = self.magnitude_ema.rsqrt()
        styles = self.affine(w)  # [N, C_in]
        if self.checkpoint and torch.is_grad_enabled():  # keep x only; the backward pass recomputes the rest
            return torch.utils.checkpoint.checkpoint(self._convolve, x, styles, input_gain, use_reentrant=False)
        return self._convolve(x, styles, input_gain)

    def _convolve(self, x: Tensor, styles: Tensor, input_gain: Tensor) -> Tensor:
        """Modulated conv, bias and filtered leaky ReLU (no side effects, so it can be recomputed)."""
        if self.is_torgb:
            styles = styles / math.sqrt(self.in_channels * self.conv_kernel ** 2)
        x = modulated_conv2d_sg3(x, self.weight, styles, demodulate=not self.is_torgb, input_gain=input_gain)
        gain, slope = (1.0, 1.0) if self.is_torgb else (math.sqrt(2), 0.2)
        return filtered_lrelu(x, self.up_filter, self.down_filter, self.bias, up=self.up, down=self.down,
                              padding=self.padding, gain=gain, slope=slope, clamp=self.conv_clamp)

    def extra_repr(self) -> str:
        return (f"in={self.in_channels}×{self.in_size}², out={self.out_channels}×{self.out_size}², up={self.up}, "
                f"down={self.down}, kernel={self.conv_kernel}, torgb={self.is_torgb}, radial={self.down_radial}")


class SynthesisNetwork(nn.Module):
    """ws [N, N_layers + 2, w_dim] -> image [N, C, R, R]: Fourier input, N layers, ToRGB, × output_scale."""

    def __init__(self, opts: StyleGAN3GOptions) -> None:
        super().__init__()
        if opts.config not in ("t", "r"):
            raise GankitError(f"G.config must be t or r, got {opts.config!r}")
        if opts.img_resolution < 8 or 2 ** int(round(math.log2(opts.img_resolution))) != opts.img_resolution:
            raise GankitError(f"stylegan3 needs a power-of-two resolution >= 8, got {opts.img_resolution}")
        if opts.num_layers <= opts.num_critical or opts.num_critical < 0:
            raise GankitError("G.num_layers must exceed G.num_critical >= 0")
        widen = 2 if opts.config == "r" else 1
        sched = synthesis_schedule(opts.img_resolution, opts.num_layers, opts.num_critical, opts.first_cutoff,
                                   opts.first_stopband, opts.last_stopband_rel, opts.margin_size,
                                   opts.channel_base * widen, opts.channel_max * widen, opts.img_channels)
        self.schedule, self.output_scale = sched, opts.output_scale
        self.num_ws = opts.num_layers + 2
        self.input = SynthesisInput(opts.w_dim, int(sched.channels[0]), int(sched.sizes[0]),
                                    float(sched.sampling_rates[0]), float(sched.cutoffs[0]))
        self.layers = nn.ModuleList()
        for i in range(opts.num_layers + 1):
            prev = max(i - 1, 0)
            self.layers.append(SynthesisLayer(
                opts.w_dim, int(sched.channels[prev]), int(sched.channels[i]), int(sched.sizes[prev]), int(sched.sizes[i]),
                float(sched.sampling_rates[prev]), float(sched.sampling_rates[i]), float(sched.cutoffs[prev]),
                float(sched.cutoffs[i]), float(sched.half_widths[prev]), float(sched.half_widths[i]),
                is_torgb=i == opts.num_layers, is_critical=i >= opts.num_layers - opts.num_critical,
                conv_kernel=1 if opts.config == "r" else 3, filter_size=opts.filter_size,
                lrelu_upsampling=opts.lrelu_upsampling, radial=opts.config == "r", conv_clamp=opts.conv_clamp,
                magnitude_ema_kimg=opts.magnitude_ema_kimg, resampling=opts.resampling,
                checkpoint=opts.checkpoint_layers))
        self.generator: torch.Generator | None = None  # the StyleGenerator API; SG3 has no noise inputs

    def forward(self, ws: Tensor, noise_mode: str = "none") -> Tensor:
        """ws [N, num_ws, w_dim] -> [N, C, R, R]; `noise_mode` is accepted for the API (there is no noise)."""
        x = self.input(ws[:, 0])  # [N, C0, size0, size0]
        for i, layer in enumerate(self.layers, start=1):
            x = layer(x, ws[:, i])
        return x * self.output_scale


class StyleGAN3Generator(StyleGenerator):
    """Mapping (2 layers) + alias-free synthesis; `G.synthesis.input.transform` moves the input plane."""

    def __init__(self, opts: StyleGAN3GOptions) -> None:
        super().__init__(opts)
        self.synthesis = SynthesisNetwork(opts)
        self.mapping = MappingNetwork(opts.z_dim, opts.c_dim, opts.w_dim, self.synthesis.num_ws, opts.mapping_layers,
                                      opts.mapping_lr, opts.w_avg_beta, opts.truncation_cutoff)

    def set_world(self, world: int) -> None:
        """Train in `world` processes that each render a slice of every batch: the magnitude EMAs decay per global batch."""
        for layer in self.synthesis.layers:
            layer.world = world


def recommended_r1_gamma(resolution: int, batch_size: int, gamma0: float = 0.001) -> float:
    """The paper's rule γ = γ₀·R²/B (App. F.2, γ₀ searched over 0.0002–0.005). γ₀ = 0.001 is what its configs
    imply: FFHQ 1024 at batch 32 → 32.8 (Fig. 16), and SG3's docs/configs.md 0.5/2/8/32 at 128–1024 px."""
    return gamma0 * resolution ** 2 / batch_size


MODELS.register("stylegan3")(ModelFamily(
    name="stylegan3", G_options=StyleGAN3GOptions, D_options=StyleGAN3DOptions,
    build_G=StyleGAN3Generator, build_D=build_residual_d,
    summary="StyleGAN3 (2021) alias-free G, G.config t|r: Fourier input, filtered lrelu, equivariance metrics",
))
