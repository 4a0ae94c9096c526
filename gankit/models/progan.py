"""Progressive GAN (Karras et al. 2018): growing G and D with the official linear-structure fade.

Facts implemented (REFERENCE §1): equalized learning rate on every layer (weights N(0, 1), gain √2,
√2/4 for G's first dense layer, 1 for ToRGB and D's last dense layer; biases 0); leaky ReLU 0.2
*without* the √2 output gain of StyleGAN's `lrelu` (so the layers use activation='linear' +
F.leaky_relu); pixel norm (ε 1e-8) on z and after every G conv; minibatch stddev (one channel) at
the start of D's 4×4 head; channels nf(s) = min(fmap_base / 2^s, fmap_max), the G block at 2^r
with nf(r−1) channels, the D block at 2^r going nf(r−1) -> nf(r−2); nearest-neighbour ×2 up,
2×2 average pool down.

Growth. G and D hold a float buffer `lod` (0 = the target resolution R; saved in checkpoints) that
`gankit.training.schedules.GrowthHook` sets from the image clock. As in the official linear
structure, G always returns R×R images — the current stage's ToRGB, faded with the previous
stage's by α = 1 − frac(lod), replicated up to R — and D always takes R×R images and reads them at
the current stage by average pooling, so trainer, losses and metrics are unchanged. Lower stages
(ToRGB/FromRGB at weight 0) are computed as the official network does; blocks above the current
stage are skipped: their weight is exactly 0 and, because Adam's state is reset whenever a new
block fades in, skipping them changes nothing but the cost. Reals are faded by the hook (REFERENCE
`process_reals`, see schedules.fade_reals), not here: D cannot tell reals from fakes.

Conditioning (c_dim > 0): a dense embedding of the one-hot label, pixel-normalised and
concatenated to the pixel-normalised z (StyleGAN2-ADA's way; the official ProGAN concatenates the
raw label and uses an AC-GAN D), and a projection D (Miyato & Koyama 2018): logit +=
⟨V c, φ(x)⟩ over the 4×4 head's penultimate features φ, V an equalized dense layer.

G's output is unbounded while training, as in the paper, and clamped to [-1, 1] in eval mode
(`gankit.models.base.image_output`); `G.raw` is always the unclamped output.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from gankit.errors import GankitError
from gankit.models.base import Discriminator, DOptions, Generator, GOptions, ModelFamily, copy_shape, image_output
from gankit.nn.layers import EqualizedConv2d, EqualizedLinear, MinibatchStdDev, PixelNorm
from gankit.registry import MODELS

Tensor = torch.Tensor
SQRT2 = math.sqrt(2.0)


@dataclass
class ProGANGOptions(GOptions):
    z_dim: int = 512
    fmap_base: int = 8192  # nf(s) = min(fmap_base / 2^s, fmap_max)
    fmap_max: int = 512
    c_embed_dim: int = 0  # label embedding width; 0 = z_dim
    pixelnorm_eps: float = 1e-8


@dataclass
class ProGANDOptions(DOptions):
    fmap_base: int = 8192
    fmap_max: int = 512
    mbstd_group_size: int = 4  # min(group, N) samples per group; the paper's v1 preset: 16


def channels(s: int, fmap_base: int, fmap_max: int) -> int:
    """nf(s) = min(fmap_base / 2^s, fmap_max), at least 1 (PG@networks.py)."""
    return max(1, min(fmap_base >> s, fmap_max))


def num_levels(resolution: int) -> int:
    """Resolutions 4, 8, ..., R: log2(R) − 1 of them; R must be a power of two >= 4."""
    if resolution < 4 or resolution & (resolution - 1):
        raise GankitError(f"progan needs a power-of-two resolution from 4 up (8 ... 1024), got {resolution}")
    return int(math.log2(resolution)) - 1


def lrelu(x: Tensor) -> Tensor:
    """ProGAN's leaky ReLU: slope 0.2, no output gain."""
    return F.leaky_relu(x, 0.2)


class GrowingNetwork(nn.Module):
    """The `lod` buffer and the stage arithmetic G and D share."""

    levels: int

    def init_lod(self) -> None:
        self.register_buffer("lod", torch.zeros([]))  # 0 = fully grown; set by GrowthHook

    def stage(self) -> tuple[float, int]:
        """(lod clipped to the valid range, index of the highest block in use: 0 = 4×4)."""
        lod = min(max(float(self.lod), 0.0), self.levels - 1.0)
        return lod, self.levels - 1 - math.floor(lod)

    def freeze_for_export(self) -> None:
        """Replace the `lod` buffer by its current value as a Python float, so that an exported graph
        is the network at this stage (export tracing cannot branch on a tensor's value)."""
        value = float(self.lod)
        del self._buffers["lod"]
        self.lod = value

    def fade_weight(self, lod: float, index: int) -> float:
        """Weight of the lower-resolution branch at block `index`: clip(lod − level, 0, 1)."""
        return min(max(lod - (self.levels - 1 - index), 0.0), 1.0)


def upsample(x: Tensor, factor: int) -> Tensor:
    """Nearest-neighbour replication: [N, C, H, W] -> [N, C, H·f, W·f]."""
    return x if factor == 1 else F.interpolate(x, scale_factor=factor, mode="nearest")


def downsample(x: Tensor, factor: int) -> Tensor:
    """Average pooling: [N, C, H, W] -> [N, C, H/f, W/f]."""
    return x if factor == 1 else F.avg_pool2d(x, factor)


class GBlock(nn.Module):
    """Up ×2, then conv3×3 -> lrelu -> pixel norm twice; at 4×4 (after the dense layer) one conv."""

    def __init__(self, c_in: int, c_out: int, first: bool, eps: float) -> None:
        super().__init__()
        self.first = first
        self.convs = nn.ModuleList([EqualizedConv2d(c_out if first else c_in, c_out, 3, gain=SQRT2)] + (
            [] if first else [EqualizedConv2d(c_out, c_out, 3, gain=SQRT2)]))
        self.norm = PixelNorm(eps)

    def forward(self, x: Tensor) -> Tensor:  # [N, c_in, H, W] -> [N, c_out, 2H, 2W] (H, W at 4×4)
        if not self.first:
            x = upsample(x, 2)
        for conv in self.convs:
            x = self.norm(lrelu(conv(x)))
        return x


class ProGANGenerator(Generator, GrowingNetwork):
    def __init__(self, opts: ProGANGOptions) -> None:
        super().__init__()
        copy_shape(self, opts)
        self.levels = num_levels(opts.img_resolution)
        nf = [channels(s, opts.fmap_base, opts.fmap_max) for s in range(self.levels + 1)]
        self.norm = PixelNorm(opts.pixelnorm_eps)
        embed_dim = (opts.c_embed_dim or opts.z_dim) if opts.c_dim else 0
        self.embed = EqualizedLinear(opts.c_dim, embed_dim) if opts.c_dim else None
        # First dense layer: a per-channel bias after the reshape to 4×4, as in the official code.
        self.dense = EqualizedLinear(opts.z_dim + embed_dim, nf[1] * 16, bias=False, gain=SQRT2 / 4)
        self.dense_bias = nn.Parameter(torch.zeros(nf[1]))
        self.blocks = nn.ModuleList(GBlock(nf[i], nf[i + 1], i == 0, opts.pixelnorm_eps) for i in range(self.levels))
        self.to_rgb = nn.ModuleList(EqualizedConv2d(nf[i + 1], opts.img_channels, 1, gain=1.0) for i in range(self.levels))
        self.init_lod()

    def raw(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        """The unclamped output [N, C, R, R] at the current lod."""
        lod, top = self.stage()
        h = self.norm(z)  # [N, z_dim]
        if self.embed is not None:
            h = torch.cat([h, self.norm(self.embed(c))], dim=1)
        x = self.dense(h).unflatten(1, (-1, 4, 4)) + self.dense_bias.view(1, -1, 1, 1)  # [N, nf1, 4, 4]
        x = self.blocks[0](self.norm(lrelu(x)))
        img = self.to_rgb[0](x)  # [N, C, 4, 4]
        for i in range(1, top + 1):
            x = self.blocks[i](x)  # [N, nf, 2^(i+2), 2^(i+2)]
            img = torch.lerp(self.to_rgb[i](x), upsample(img, 2), self.fade_weight(lod, i))
        return upsample(img, 2 ** (self.levels - 1 - top))  # [N, C, R, R]

    def forward(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        return image_output(self.raw(z, c), self.training)


class DBlock(nn.Module):
    """conv3×3 (c_in) -> lrelu -> conv3×3 (c_out) -> lrelu -> 2×2 average pool."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv0 = EqualizedConv2d(c_in, c_in, 3, gain=SQRT2)
        self.conv1 = EqualizedConv2d(c_in, c_out, 3, gain=SQRT2)

    def forward(self, x: Tensor) -> Tensor:  # [N, c_in, H, W] -> [N, c_out, H/2, W/2]
        return downsample(lrelu(self.conv1(lrelu(self.conv0(x)))), 2)


class DHead(nn.Module):
    """4×4: minibatch stddev -> conv3×3 -> lrelu -> dense -> lrelu -> dense to one logit (+ projection)."""

    def __init__(self, c_in: int, c_hidden: int, c_dim: int, group_size: int) -> None:
        super().__init__()
        self.mbstd = MinibatchStdDev(group_size, 1)
        self.conv = EqualizedConv2d(c_in + 1, c_in, 3, gain=SQRT2)
        self.dense = EqualizedLinear(c_in * 16, c_hidden, gain=SQRT2)
        self.out = EqualizedLinear(c_hidden, 1, gain=1.0)
        self.project = EqualizedLinear(c_hidden, c_dim, bias=False, gain=1.0) if c_dim else None

    def forward(self, x: Tensor, c: Tensor | None) -> Tensor:  # [N, c_in, 4, 4] -> [N]
        x = lrelu(self.conv(self.mbstd(x)))
        features = lrelu(self.dense(x.flatten(1)))  # [N, c_hidden]
        logits = self.out(features).squeeze(1)
        if self.project is not None:  # the label's row of V applied to the features
            logits = logits + (self.project(features) * c).sum(1)
        return logits


class ProGANDiscriminator(Discriminator, GrowingNetwork):
    def __init__(self, opts: ProGANDOptions) -> None:
        super().__init__()
        copy_shape(self, opts)
        self.levels = num_levels(opts.img_resolution)
        nf = [channels(s, opts.fmap_base, opts.fmap_max) for s in range(self.levels + 1)]
        self.from_rgb = nn.ModuleList(EqualizedConv2d(opts.img_channels, nf[i + 1], 1, gain=SQRT2) for i in range(self.levels))
        # blocks[i - 1] takes level i (2^(i+2) px) down to level i − 1; the head handles 4×4
        self.blocks = nn.ModuleList(DBlock(nf[i + 1], nf[i]) for i in range(1, self.levels))
        self.head = DHead(nf[1], nf[0], opts.c_dim, opts.mbstd_group_size)
        self.init_lod()

    def layer_groups(self) -> list[list[nn.Parameter]]:
        """Blocks from the highest resolution, each with its fromRGB, then the 4×4 head (Freeze-D)."""
        groups = [[*self.from_rgb[i].parameters(), *self.blocks[i - 1].parameters()] for i in range(self.levels - 1, 0, -1)]
        return groups + [[*self.from_rgb[0].parameters(), *self.head.parameters()]]

    def forward(self, x: Tensor, c: Tensor | None = None) -> Tensor:  # [N, C, R, R] -> [N]
        lod, top = self.stage()
        img = downsample(x, 2 ** (self.levels - 1 - top))  # the current stage's resolution
        h = lrelu(self.from_rgb[top](img))
        for i in range(top, 0, -1):
            h = self.blocks[i - 1](h)  # [N, nf, 2^(i+1), 2^(i+1)]
            img = downsample(img, 2)
            h = torch.lerp(h, lrelu(self.from_rgb[i - 1](img)), self.fade_weight(lod, i))
        return self.head(h, c)


MODELS.register("progan")(ModelFamily(
    name="progan", G_options=ProGANGOptions, D_options=ProGANDOptions,
    build_G=ProGANGenerator, build_D=ProGANDiscriminator,
    summary="Progressive GAN: growing G/D with fade-in, equalized lr, pixel norm, minibatch stddev (WGAN-GP + drift)",
))
