"""DCGAN (Radford et al. 2016) for 28/32/64 px and other 4·2^k or 7·2^k sizes, grey or RGB.

G: z (+ label embedding) -> ConvTranspose to s0×s0 (s0 = 4 or 7) -> [ConvTranspose 4/2/1, BN, ReLU]
-> ConvTranspose to the image -> Tanh (no BN on the output layer); `cond_bn` makes every BN
class-conditional (a per-class scale and shift, as Miyato & Koyama 2018's G). D mirrors it with
strided 4×4 convs and LeakyReLU 0.2, no normalisation on its input layer, `norm: batch|layer|none`,
optional spectral norm (SNGAN), optional label channels at its input (`c_input`), and a projection
head for labels (Miyato & Koyama 2018): logit = w·flatten(h) + <embed(c), φ(h)> over the final
s0×s0 features h, with φ = mean_xy (`projection: mean`; the paper sum-pools, the mean keeps the
projection's scale independent of the map size) or φ = flatten (`projection: flat`: a class-specific
linear head beside w, which keeps where on the map a feature lies; a shallow D's pooled local
features cannot tell classes of one silhouette apart, BENCHMARKS.md). Weights N(0, 0.02), set before
spectral norm wraps a layer; BN scale N(1, 0.02); the projection's embedding N(0, embed_std).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from gankit.errors import GankitError
from gankit.models.base import Discriminator, DOptions, Generator, GOptions, ModelFamily, copy_shape
from gankit.registry import MODELS


@dataclass
class DCGANGOptions(GOptions):
    base_channels: int = 128  # channels of the last hidden stage; doubling towards s0
    max_channels: int = 512
    c_embed_dim: int = 0  # 0 = c_dim
    cond_bn: bool = False  # class-conditional BatchNorm: a per-class scale and shift in every BN (Miyato & Koyama 2018)
    upsample: str = "transposed"  # transposed: 4×4 stride-2 transposed convs | resize: nearest ×2, then a 3×3 conv


@dataclass
class DCGANDOptions(DOptions):
    base_channels: int = 64  # channels of the first conv; doubling per stage
    max_channels: int = 512
    norm: str = "batch"  # batch | layer | none
    spectral: bool = False
    projection: str = "mean"  # mean: <embed(c), mean_xy(h)> | flat: <embed(c), flatten(h)>, a class-specific linear head
    embed_std: float = 1.0  # initial std of the projection's class embedding (1.0: nn.Embedding's own)
    c_input: bool = False  # also feed the one-hot label to the first conv as c_dim constant image channels
    arch: str = "dcgan"  # dcgan: one strided conv per stage | sngan: SNGAN's standard CNN (see DCGANDiscriminator)


def stage_sizes(resolution: int) -> list[int]:
    """Feature-map sizes from the image down to s0 (exclusive of the image): 28 -> [14, 7]."""
    sizes, size = [], resolution
    while size > 7 and size % 2 == 0:
        size //= 2
        sizes.append(size)
    if size not in (4, 7) or not sizes:
        raise GankitError(f"DCGAN needs a resolution of 4·2^k or 7·2^k (8, 14, 28, 32, 64, ...), got {resolution}")
    return sizes


def init_dcgan_weights(module: nn.Module) -> nn.Module:
    """Radford et al.: conv weights N(0, 0.02); BatchNorm scale N(1, 0.02), shift 0. Returns `module`.

    Call it before spectral norm wraps a layer: under the parametrization `weight` is computed, and
    writing into it would leave the trained `original` at PyTorch's default init."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d) and m.affine:
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
        elif isinstance(m, ConditionalBatchNorm2d):
            nn.init.normal_(m.scale.weight, 1.0, 0.02)
            nn.init.zeros_(m.shift.weight)
    return module


class ConditionalBatchNorm2d(nn.Module):
    """BatchNorm whose scale and shift are looked up per class (de Vries et al. 2017; Miyato & Koyama
    2018's G): x̂ · γ[c] + β[c], with one-hot (or soft) labels c [N, c_dim] mixing the per-class rows."""

    def __init__(self, num_features: int, c_dim: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(num_features, affine=False)
        self.scale = nn.Embedding(c_dim, num_features)
        self.shift = nn.Embedding(c_dim, num_features)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        gamma, beta = c @ self.scale.weight, c @ self.shift.weight  # [N, C] each
        return self.norm(x) * gamma[:, :, None, None] + beta[:, :, None, None]  # [N, C, H, W]


class DCGANGenerator(Generator):
    def __init__(self, opts: DCGANGOptions) -> None:
        super().__init__()
        if opts.upsample not in ("transposed", "resize"):
            raise GankitError(f"G.upsample must be transposed or resize, got {opts.upsample!r}")
        copy_shape(self, opts)
        sizes = stage_sizes(opts.img_resolution)[::-1]  # [s0, ..., R/2]
        chans = [min(opts.base_channels * 2 ** (len(sizes) - 1 - i), opts.max_channels) for i in range(len(sizes))]
        embed_dim = (opts.c_embed_dim or opts.c_dim) if opts.c_dim else 0
        self.embed = nn.Embedding(opts.c_dim, embed_dim) if opts.c_dim else None
        # The paper's first layer, a transposed conv from 1x1 to s0xs0, is a dense layer: computed as one
        # (identical maths, 10x faster on CPU than ConvTranspose2d with a 1x1 input).
        self.project = nn.Linear(opts.z_dim + embed_dim, chans[0] * sizes[0] ** 2, bias=False)
        self.start_shape = (chans[0], sizes[0], sizes[0])

        def up(c_in: int, c_out: int, bias: bool) -> list[nn.Module]:
            """×2 upsampling conv: transposed (the paper's), or resize-convolution (no checkerboard, Odena et al. 2016)."""
            if opts.upsample == "resize":
                return [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c_in, c_out, 3, 1, 1, bias=bias)]
            return [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=bias)]

        def norm(channels: int) -> nn.Module:
            return ConditionalBatchNorm2d(channels, opts.c_dim) if opts.cond_bn and opts.c_dim else nn.BatchNorm2d(channels)

        layers: list[nn.Module] = [norm(chans[0]), nn.ReLU(True)]
        for c_in, c_out in zip(chans[:-1], chans[1:]):
            layers += [*up(c_in, c_out, False), norm(c_out), nn.ReLU(True)]
        layers += [*up(chans[-1], opts.img_channels, True), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        init_dcgan_weights(self)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        h = z  # [N, z_dim]
        if self.embed is not None:
            h = torch.cat([z, c @ self.embed.weight], dim=1)
        x = self.project(h).view(-1, *self.start_shape)  # [N, C0, s0, s0]
        for layer in self.net:
            x = layer(x, c) if isinstance(layer, ConditionalBatchNorm2d) else layer(x)
        return x  # [N, C, R, R]


class DCGANDiscriminator(Discriminator):
    """Strided-conv D. `arch: dcgan` is one 4×4 stride-2 conv per stage; `arch: sngan` is SNGAN's
    "standard CNN" (Miyato et al. 2018, Table 3): a 3×3 stride-1 conv before each strided conv and
    a last 3×3 conv doubling the channels, the depth a norm-free (spectral-norm) D needs."""

    def __init__(self, opts: DCGANDOptions) -> None:
        super().__init__()
        if opts.norm not in ("batch", "layer", "none"):
            raise GankitError(f"D.norm must be batch, layer or none, got {opts.norm!r}")
        if opts.arch not in ("dcgan", "sngan"):
            raise GankitError(f"D.arch must be dcgan or sngan, got {opts.arch!r}")
        if opts.projection not in ("mean", "flat"):
            raise GankitError(f"D.projection must be mean or flat, got {opts.projection!r}")
        copy_shape(self, opts)
        sizes = stage_sizes(opts.img_resolution)  # [R/2, ..., s0]
        chans = [min(opts.base_channels * 2 ** i, opts.max_channels) for i in range(len(sizes))]
        spectral = nn.utils.parametrizations.spectral_norm if opts.spectral else (lambda m: m)
        sn = lambda m: spectral(init_dcgan_weights(m))  # noqa: E731  (initialise, then wrap)
        layers: list[nn.Module] = []

        def conv(c_in: int, c_out: int, kernel: int, stride: int, normed: bool) -> None:
            layers.append(sn(nn.Conv2d(c_in, c_out, kernel, stride, 1, bias=not normed)))
            if normed:
                layers.append(init_dcgan_weights(nn.BatchNorm2d(c_out)) if opts.norm == "batch" else nn.GroupNorm(1, c_out))
            layers.append(nn.LeakyReLU(0.2, True))

        self.c_input = bool(opts.c_input and opts.c_dim)
        c_in = opts.img_channels + (opts.c_dim if self.c_input else 0)
        for i, c_out in enumerate(chans):
            normed = i > 0 and opts.norm != "none"
            if opts.arch == "sngan":
                conv(c_in, c_out, 3, 1, normed)
                c_in = c_out
            conv(c_in, c_out, 4, 2, normed)
            c_in = c_out
        if opts.arch == "sngan":
            chans.append(min(2 * c_in, opts.max_channels))
            conv(c_in, chans[-1], 3, 1, opts.norm != "none")
        self.features = nn.Sequential(*layers)
        feat_dim = chans[-1] * sizes[-1] ** 2
        self.head = sn(nn.Linear(feat_dim, 1))  # == a valid s0×s0 conv to one channel
        self.flat_projection = opts.projection == "flat"
        if opts.c_dim:
            embed = nn.Embedding(opts.c_dim, feat_dim if self.flat_projection else chans[-1])
            nn.init.normal_(embed.weight, 0.0, opts.embed_std)
            self.embed = spectral(embed)
        else:
            self.embed = None

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        if self.c_input:  # the label as constant channels beside the image [N, C + c_dim, R, R]
            x = torch.cat([x, c[:, :, None, None].to(x.dtype).expand(-1, -1, *x.shape[2:])], dim=1)
        features = self.features(x)  # [N, C0, s0, s0]
        out = self.head(features.flatten(1)).squeeze(1)  # [N]
        if self.embed is not None:  # projection onto the flattened [N, C0·s0²] or spatially averaged [N, C0] features
            h = features.flatten(1) if self.flat_projection else features.mean((2, 3))
            out = out + (h * (c @ self.embed.weight)).sum(1)
        return out


MODELS.register("dcgan")(ModelFamily(
    name="dcgan", G_options=DCGANGOptions, D_options=DCGANDOptions,
    build_G=DCGANGenerator, build_D=DCGANDiscriminator,
    summary="DCGAN: transposed-conv G, strided-conv D (batch/layer/no norm, spectral norm, projection)",
))
