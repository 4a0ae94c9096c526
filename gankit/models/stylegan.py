"""StyleGAN (Karras et al. 2019) and the parts StyleGAN2/3 share: mapping network, style G base, residual D.

Facts implemented (REFERENCE §2): z is pixel-normalised and mapped by `mapping_layers` dense
layers (lrelu, lr multiplier 0.01) to w, broadcast to num_ws = 2·log2(R) − 2 layers; w̄ is an EMA
(β 0.995) of w updated in training; truncation w' = w̄ + ψ(w − w̄) on the first `cutoff` layers
(8 by default for StyleGAN, all for StyleGAN2); style mixing with probability 0.9 at a crossover
drawn from {1, …, num_ws − 1}. Synthesis starts from a learned 4×4 constant of ones; every layer is
conv → noise (per-channel weight, init 0) → bias → lrelu 0.2 → instance norm → style
x·(y_s + 1) + y_b; each upsampling conv (nearest ×2, then 3×3) is followed by a [1,2,1] blur.
D is ProGAN's D with a blur before each downsampling (conv → blur... → 2×2 average pool) and
minibatch stddev (group 4, 1 channel).

This differs from the seed's `StyleBlock` sketch (§6.2), which normalises with the unbiased `x.std`
plus 1e-5 outside the square root, convolves after the AdaIN, and has no noise and no activation:
here the order is the paper's and instance norm is x·1/√(mean x² + 1e-8) after centring. The
style itself, x·(y_s + 1) + y_b, is the same in both. Fixed-resolution training (no progressive growing). The fused
transposed/strided convs the paper uses at ≥128² are the same maths as nearest-up + conv and
conv + average pool, which we use at every size.

Randomness in training (style-mixing draws, the second z, noise inputs) comes from
`G.noise_generator`, which the trainer sets to its saved `noise` stream, so resume is exact;
in eval mode mixing is off and G(z) uses each layer's constant noise (noise_mode='const';
`G.synthesis(ws, noise_mode='random')` draws fresh noise).
G's output is unbounded while training, as in the papers, and clamped to [-1, 1] in eval mode
(`gankit.models.base.image_output`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn
from torch.nn import functional as F

from gankit.errors import GankitError
from gankit.models.base import Discriminator, DOptions, Generator, GOptions, ModelFamily, copy_shape, image_output
from gankit.nn.draws import Source, per_sample, shared_generator
from gankit.nn.layers import EqualizedConv2d, EqualizedLinear, MinibatchStdDev
from gankit.nn.modulated import blur2d, downsample2d, layer_noise, make_filter, upfirdn2d
from gankit.registry import MODELS

Tensor = torch.Tensor
SQRT_HALF = math.sqrt(0.5)


def check_resolution(resolution: int) -> int:
    """log2 of a power-of-two resolution in 8..1024, else a GankitError."""
    log2 = int(round(math.log2(max(resolution, 1))))
    if 2 ** log2 != resolution or not 8 <= resolution <= 1024:
        raise GankitError(f"style-based models need a power-of-two resolution from 8 to 1024, got {resolution}")
    return log2


def normalize_2nd_moment(x: Tensor, eps: float = 1e-8) -> Tensor:
    """x / √(mean over features of x² + eps) (pixel norm of z)."""
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()



class MappingNetwork(nn.Module):
    """z (+ embedded c) -> ws [N, num_ws, w_dim], with the w̄ buffer `w_avg` and truncation."""

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, num_ws: int, num_layers: int = 8,
                 lr_multiplier: float = 0.01, w_avg_beta: float = 0.995, truncation_cutoff: int | None = None) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.w_avg_beta, self.truncation_cutoff = w_avg_beta, truncation_cutoff
        self.embed = EqualizedLinear(c_dim, w_dim) if c_dim else None
        features = [z_dim + (w_dim if c_dim else 0)] + [w_dim] * num_layers
        self.layers = nn.ModuleList(EqualizedLinear(a, b, lr_multiplier=lr_multiplier, activation="lrelu")
                                    for a, b in zip(features[:-1], features[1:]))
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: Tensor, c: Tensor | None = None, psi: float = 1.0, cutoff: int | None = None,
                update_w_avg: bool = False) -> Tensor:
        """z [N, z_dim], c one-hot [N, c_dim] -> ws [N, num_ws, w_dim]; ψ < 1 truncates the first `cutoff` ws."""
        parts = [normalize_2nd_moment(z)] if self.z_dim else []
        if self.embed is not None:
            parts.append(normalize_2nd_moment(self.embed(c.to(z.dtype))))
        x = torch.cat(parts, dim=1)  # [N, in]
        for layer in self.layers:
            x = layer(x)  # [N, w_dim]
        if update_w_avg:
            self.w_avg.copy_(x.detach().float().mean(0).lerp(self.w_avg, self.w_avg_beta))  # fp32 under autocast
        ws = x[:, None].expand(-1, self.num_ws, -1)  # [N, num_ws, w_dim]
        if psi != 1:
            cutoff = cutoff if cutoff is not None else self.truncation_cutoff
            cutoff = self.num_ws if cutoff is None else min(cutoff, self.num_ws)
            head = self.w_avg.lerp(ws[:, :cutoff], psi)
            ws = torch.cat([head, ws[:, cutoff:]], dim=1)
        return ws


class StyleGenerator(Generator):
    """What StyleGAN 1 and 2 generators share: `mapping`, `synthesis`, mixing, truncation, w̄."""

    mapping: MappingNetwork
    synthesis: nn.Module

    def __init__(self, opts: "StyleGOptions") -> None:
        super().__init__()
        copy_shape(self, opts)
        self.w_dim, self.mixing_prob = opts.w_dim, opts.mixing_prob
        self.noise_generator: Source = None  # see set_noise_generator
        # Path-length mean `a` of StyleGAN2's regularizer: a buffer, so checkpoints carry it.
        self.register_buffer("pl_mean", torch.zeros([]))

    def set_noise_generator(self, generator: Source) -> None:
        """Draw mixing decisions, second latents and noise inputs from `generator` (the trainer's SampleDraws
        on its `noise` stream, which keys per-sample draws by global index)."""
        self.noise_generator = generator
        self.synthesis.generator = generator

    @property
    def num_ws(self) -> int:
        return self.mapping.num_ws

    @property
    def w_avg(self) -> Tensor:
        return self.mapping.w_avg

    def training_styles(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        """ws for a training step: w̄ updated, and with probability `mixing_prob` a second z's ws from a crossover on."""
        ws = self.mapping(z, c, update_w_avg=True)  # [N, num_ws, w_dim]
        if self.mixing_prob <= 0 or self.num_ws < 2:
            return ws
        gen = shared_generator(self.noise_generator)  # one decision and crossover for the whole global batch
        mix = torch.rand([], generator=gen).item() < self.mixing_prob
        cutoff = int(torch.randint(1, self.num_ws, [], generator=gen))
        z2 = per_sample(self.noise_generator, z.shape[0], lambda lead, g: torch.randn(*lead, *z.shape[1:], generator=g))
        z2 = z2.to(z.device, z.dtype)  # [N, z_dim], keyed by global sample index
        if not mix:
            return ws
        ws2 = self.mapping(z2, c, update_w_avg=False)
        return torch.cat([ws[:, :cutoff], ws2[:, cutoff:]], dim=1)

    def forward(self, z: Tensor, c: Tensor | None = None, psi: float = 1.0, cutoff: int | None = None,
                noise_mode: str | None = None) -> Tensor:
        """z [N, z_dim] -> images [N, C, R, R] in [-1, 1]; training mode mixes styles and draws noise,
        eval mode truncates and (by default) uses the constant noise, so `G.sample(seed=...)` repeats."""
        ws = self.training_styles(z, c) if self.training else self.mapping(z, c, psi=psi, cutoff=cutoff)
        noise_mode = noise_mode or ("random" if self.training else "const")
        return image_output(self.synthesis(ws, noise_mode=noise_mode), self.training)


# ---- StyleGAN (v1) ---------------------------------------------------------------------------

@dataclass
class StyleGOptions(GOptions):
    z_dim: int = 512
    w_dim: int = 512
    mapping_layers: int = 8
    mapping_lr: float = 0.01  # lr multiplier of the mapping network
    w_avg_beta: float = 0.995
    channel_base: int = 16384  # channels at resolution r: min(channel_base / r, channel_max)
    channel_max: int = 512
    mixing_prob: float = 0.9
    truncation_cutoff: Optional[int] = 8  # ψ applies to ws[:cutoff] (null = all)


@dataclass
class StyleDOptions(DOptions):
    channel_base: int = 16384
    channel_max: int = 512
    mbstd_group_size: int = 4
    mbstd_num_channels: int = 1
    conv_clamp: Optional[float] = None  # clamp activations to ±conv_clamp (fp16 safety)


def channels_at(res: int, base: int, cmax: int) -> int:
    return min(base // res, cmax)


class StyleEpilogue(nn.Module):
    """StyleGAN's layer epilogue: noise -> bias -> lrelu 0.2 -> instance norm -> style x·(y_s + 1) + y_b."""

    def __init__(self, channels: int, w_dim: int, resolution: int) -> None:
        super().__init__()
        self.noise_weight = nn.Parameter(torch.zeros(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.style = EqualizedLinear(w_dim, 2 * channels)  # gain 1, bias 0
        self.register_buffer("noise_const", torch.randn(resolution, resolution))

    def forward(self, x: Tensor, w: Tensor, noise_mode: str, generator: Source) -> Tensor:
        if noise_mode != "none":
            x = x + layer_noise(x, self.noise_const, noise_mode, generator) * self.noise_weight[None, :, None, None]
        x = F.leaky_relu(x + self.bias[None, :, None, None], 0.2)
        x = x - x.mean(dim=(2, 3), keepdim=True)
        x = x * (x.square().mean(dim=(2, 3), keepdim=True) + 1e-8).rsqrt()  # instance norm
        y_s, y_b = self.style(w)[:, :, None, None].chunk(2, dim=1)  # [N, C, 1, 1] each
        return x * (y_s + 1) + y_b


class StyleSynthesis(nn.Module):
    """ws [N, num_ws, w_dim] -> image [N, C, R, R]: the const, then two styled layers per resolution."""

    def __init__(self, opts: StyleGOptions) -> None:
        super().__init__()
        log2 = check_resolution(opts.img_resolution)
        ch = lambda r: channels_at(r, opts.channel_base, opts.channel_max)  # noqa: E731
        self.num_ws = 2 * log2 - 2
        self.const = nn.Parameter(torch.ones(1, ch(4), 4, 4))
        self.convs = nn.ModuleList()
        self.upsamples: list[bool] = []  # does conv i start a new resolution?
        self.epilogues = nn.ModuleList([StyleEpilogue(ch(4), opts.w_dim, 4)])
        for log_r in range(2, log2 + 1):
            r = 2 ** log_r
            if r > 4:  # nearest ×2 -> conv 3×3 -> blur
                self.convs.append(EqualizedConv2d(ch(r // 2), ch(r), 3, bias=False, gain=math.sqrt(2)))
                self.epilogues.append(StyleEpilogue(ch(r), opts.w_dim, r))
                self.upsamples.append(True)
            self.convs.append(EqualizedConv2d(ch(r), ch(r), 3, bias=False, gain=math.sqrt(2)))
            self.upsamples.append(False)
            self.epilogues.append(StyleEpilogue(ch(r), opts.w_dim, r))
        self.to_rgb = EqualizedConv2d(ch(opts.img_resolution), opts.img_channels, 1)
        self.register_buffer("blur_filter", make_filter([1, 2, 1]), persistent=False)
        self.generator: Source = None

    def forward(self, ws: Tensor, noise_mode: str = "random") -> Tensor:
        gen = self.generator
        x = self.const.expand(ws.shape[0], -1, -1, -1)  # [N, C4, 4, 4]
        x = self.epilogues[0](x, ws[:, 0], noise_mode, gen)
        for i, (conv, up, epilogue) in enumerate(zip(self.convs, self.upsamples, self.epilogues[1:]), start=1):
            if up:
                x = blur2d(conv(F.interpolate(x, scale_factor=2.0, mode="nearest")), self.blur_filter)
            else:
                x = conv(x)
            x = epilogue(x, ws[:, i], noise_mode, gen)
        return self.to_rgb(x)  # [N, C, R, R]


class StyleGANGenerator(StyleGenerator):
    def __init__(self, opts: StyleGOptions) -> None:
        super().__init__(opts)
        self.synthesis = StyleSynthesis(opts)
        self.mapping = MappingNetwork(opts.z_dim, opts.c_dim, opts.w_dim, self.synthesis.num_ws, opts.mapping_layers,
                                      opts.mapping_lr, opts.w_avg_beta, opts.truncation_cutoff)



# ---- discriminators --------------------------------------------------------------------------

class ProjectionHead(nn.Module):
    """Final dense layer; with labels, a projection (Miyato & Koyama 2018): <out(h), embed(c)> / √cmap_dim."""

    def __init__(self, in_features: int, c_dim: int, cmap_dim: int | None = None) -> None:
        super().__init__()
        self.cmap_dim = (cmap_dim or in_features) if c_dim else 1
        self.out = EqualizedLinear(in_features, self.cmap_dim)
        self.embed = EqualizedLinear(c_dim, self.cmap_dim) if c_dim else None

    def forward(self, h: Tensor, c: Tensor | None = None) -> Tensor:  # [N, F] -> [N]
        out = self.out(h)
        if self.embed is None:
            return out[:, 0]
        return (out * self.embed(c.to(h.dtype))).sum(dim=1) / math.sqrt(self.cmap_dim)


class DownConv2d(EqualizedConv2d):
    """Equalized conv with stride 2 after a FIR low-pass (StyleGAN2's down₂): [N, I, H, W] -> [N, O, H/2, W/2]."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True, gain: float = 1.0,
                 activation: str = "linear", filter_taps: tuple = (1, 3, 3, 1)) -> None:
        super().__init__(in_channels, out_channels, kernel_size, bias=bias, gain=gain, activation=activation)
        self.register_buffer("resample_filter", make_filter(filter_taps), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        k, fk = self.weight.shape[-1], self.resample_filter.shape[-1]
        if k == 1:
            x = downsample2d(x, self.resample_filter)
            stride = 1
        else:
            p = (fk - 2 + 1) // 2 + k // 2  # filter with the conv's padding folded in, then stride 2
            x = upfirdn2d(x, self.resample_filter, padding=(p, p, p, p))
            stride = 2
        bias = self.bias * self.bias_gain if self.bias is not None else None
        x = F.conv2d(x, self.weight * self.weight_gain, bias, stride=stride)
        return F.leaky_relu(x, 0.2) * math.sqrt(2) if self.activation == "lrelu" else x


def _clamp(x: Tensor, value: float | None) -> Tensor:
    return x.clamp(-value, value) if value is not None else x


class ResidualBlock(nn.Module):
    """StyleGAN2 D block: y = skip₁ₓ₁(down₂ x)·√½; x = conv3×3 -> conv3×3 down₂ (·√½); out = y + x.
    As in NVIDIA's Conv2dLayer, a layer's gain scales its clamp too: the second conv clamps at ±conv_clamp·√½."""

    def __init__(self, in_channels: int, out_channels: int, conv_clamp: float | None = None) -> None:
        super().__init__()
        self.conv_clamp = conv_clamp
        self.skip = DownConv2d(in_channels, out_channels, 1, bias=False, gain=SQRT_HALF)
        self.conv0 = EqualizedConv2d(in_channels, in_channels, 3, activation="lrelu")
        self.conv1 = DownConv2d(in_channels, out_channels, 3, activation="lrelu")

    def forward(self, x: Tensor) -> Tensor:  # [N, I, H, W] -> [N, O, H/2, W/2]
        y = self.skip(x)
        x = _clamp(self.conv0(x), self.conv_clamp)
        x = _clamp(self.conv1(x) * SQRT_HALF, None if self.conv_clamp is None else self.conv_clamp * SQRT_HALF)
        return y + x


class DEpilogue(nn.Module):
    """The 4×4 head of ProGAN/StyleGAN D: mbstd -> conv3×3 -> dense (16C -> C) -> dense (C -> 1) or projection."""

    def __init__(self, channels: int, c_dim: int, mbstd_group_size: int, mbstd_num_channels: int,
                 conv_clamp: float | None = None) -> None:
        super().__init__()
        self.conv_clamp = conv_clamp
        self.mbstd = MinibatchStdDev(mbstd_group_size, mbstd_num_channels) if mbstd_num_channels else None
        self.conv = EqualizedConv2d(channels + mbstd_num_channels, channels, 3, activation="lrelu")
        self.fc = EqualizedLinear(channels * 16, channels, activation="lrelu")
        self.head = ProjectionHead(channels, c_dim)

    def forward(self, x: Tensor, c: Tensor | None) -> Tensor:  # [N, C, 4, 4] -> [N]
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = _clamp(self.conv(x), self.conv_clamp)
        return self.head(self.fc(x.flatten(1)), c)


class ResidualDiscriminator(Discriminator):
    """StyleGAN2's residual D (REFERENCE §3): fromRGB at the top, residual blocks down to 4×4, mbstd epilogue."""

    def __init__(self, img_resolution: int, img_channels: int, c_dim: int = 0, channel_base: int = 32768,
                 channel_max: int = 512, mbstd_group_size: int = 4, mbstd_num_channels: int = 1,
                 conv_clamp: float | None = None) -> None:
        super().__init__()
        self.img_resolution, self.img_channels, self.c_dim = img_resolution, img_channels, c_dim
        log2 = check_resolution(img_resolution)
        ch = lambda r: channels_at(r, channel_base, channel_max)  # noqa: E731
        self.conv_clamp = conv_clamp
        self.from_rgb = EqualizedConv2d(img_channels, ch(img_resolution), 1, activation="lrelu")
        self.blocks = nn.ModuleList(ResidualBlock(ch(2 ** r), ch(2 ** (r - 1)), conv_clamp) for r in range(log2, 2, -1))
        self.epilogue = DEpilogue(ch(4), c_dim, mbstd_group_size, mbstd_num_channels, conv_clamp)

    def forward(self, x: Tensor, c: Tensor | None = None) -> Tensor:  # [N, C, R, R] -> [N]
        x = _clamp(self.from_rgb(x), self.conv_clamp)
        for block in self.blocks:
            x = block(x)
        return self.epilogue(x, c)


class StyleGANDiscriminator(Discriminator):
    """StyleGAN's D: ProGAN's D (fromRGB, per block conv3×3 -> blur -> conv3×3 -> 2×2 avg pool) and the mbstd head."""

    def __init__(self, opts: StyleDOptions) -> None:
        super().__init__()
        copy_shape(self, opts)
        log2 = check_resolution(opts.img_resolution)
        ch = lambda r: channels_at(r, opts.channel_base, opts.channel_max)  # noqa: E731
        self.conv_clamp = opts.conv_clamp
        self.from_rgb = EqualizedConv2d(opts.img_channels, ch(opts.img_resolution), 1, activation="lrelu")
        self.convs0 = nn.ModuleList(EqualizedConv2d(ch(2 ** r), ch(2 ** r), 3, activation="lrelu") for r in range(log2, 2, -1))
        self.convs1 = nn.ModuleList(EqualizedConv2d(ch(2 ** r), ch(2 ** (r - 1)), 3, activation="lrelu")
                                    for r in range(log2, 2, -1))
        self.register_buffer("blur_filter", make_filter([1, 2, 1]), persistent=False)
        self.epilogue = DEpilogue(ch(4), opts.c_dim, opts.mbstd_group_size, opts.mbstd_num_channels, opts.conv_clamp)

    def forward(self, x: Tensor, c: Tensor | None = None) -> Tensor:  # [N, C, R, R] -> [N]
        x = _clamp(self.from_rgb(x), self.conv_clamp)
        for conv0, conv1 in zip(self.convs0, self.convs1):
            x = _clamp(conv0(x), self.conv_clamp)
            x = _clamp(F.avg_pool2d(conv1(blur2d(x, self.blur_filter)), 2), self.conv_clamp)
        return self.epilogue(x, c)


MODELS.register("stylegan")(ModelFamily(
    name="stylegan", G_options=StyleGOptions, D_options=StyleDOptions,
    build_G=StyleGANGenerator, build_D=StyleGANDiscriminator,
    summary="StyleGAN (2019): mapping net, const input, noise, AdaIN styles, blur, mixing, truncation",
))
