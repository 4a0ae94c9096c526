"""StyleGAN2's filtered resampling and modulated convolution, in plain PyTorch (REFERENCE §2–§3).

Resampling uses `upfirdn2d` (gankit.nn.filters: zero-insert by `up`, pad (negative = crop),
convolve with a FIR filter, keep every `down`-th sample) with separable filters from
`make_filter`: `upsample2d` / `downsample2d` with [1,3,3,1] (StyleGAN2), `blur2d` with [1,2,1]
(StyleGAN 1). `modulated_conv2d` computes the per-sample modulated (and demodulated) convolution
without materialising per-sample weights: scale the input by the styles, convolve once with the
shared weight, scale the output by the demodulation coefficients — the same maths as the grouped
form (`modulated_weight`).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from gankit.nn.draws import Source, per_sample
from gankit.nn.filters import upfirdn2d
from gankit.nn.layers import EqualizedLinear, lrelu_agc

Tensor = torch.Tensor


def make_filter(taps: Sequence[float]) -> Tensor:
    """Separable FIR taps normalised to sum 1, [k]: upfirdn2d applies them along both axes (the 2-D
    filter is their outer product) as two banded matrix products, several times faster on CPU than
    a depthwise 2-D convolution."""
    f = torch.as_tensor(taps, dtype=torch.float32)
    return f / f.sum()


def upsample2d(x: Tensor, f: Tensor, up: int = 2) -> Tensor:
    """[N, C, H, W] -> [N, C, H·up, W·up]: zero insertion then the FIR filter with gain up²."""
    k = f.shape[-1]
    p0, p1 = (k + up - 1) // 2, (k - up) // 2
    return upfirdn2d(x, f, up=up, padding=(p0, p1, p0, p1), gain=up * up)


def downsample2d(x: Tensor, f: Tensor, down: int = 2) -> Tensor:
    """[N, C, H, W] -> [N, C, H/down, W/down]: the FIR filter then every down-th sample."""
    k = f.shape[-1]
    p0, p1 = (k - down + 1) // 2, (k - down) // 2
    return upfirdn2d(x, f, down=down, padding=(p0, p1, p0, p1))


def blur2d(x: Tensor, f: Tensor) -> Tensor:
    """Same-size FIR blur (StyleGAN 1's [1,2,1] ⊗ [1,2,1] / 16)."""
    k = f.shape[-1]
    p0, p1 = (k - 1) // 2, k // 2
    return upfirdn2d(x, f, padding=(p0, p1, p0, p1))


def demodulation_coefficients(weight: Tensor, styles: Tensor, eps: float = 1e-8) -> Tensor:
    """1/√(Σ_{i,k} (w_oik·s_i)² + eps) for each sample and output channel: [N, O]."""
    return (styles.square() @ weight.square().sum(dim=(2, 3)).t() + eps).rsqrt()


def modulated_weight(weight: Tensor, styles: Tensor, demodulate: bool = True) -> Tensor:
    """The per-sample weights w''_{noik} [N, O, I, k, k] that `modulated_conv2d` applies (for tests, export)."""
    w = weight[None] * styles[:, None, :, None, None]  # [N, O, I, k, k]
    if demodulate:
        w = w * demodulation_coefficients(weight, styles)[:, :, None, None, None]
    return w


def modulated_conv2d(x: Tensor, weight: Tensor, styles: Tensor, demodulate: bool = True, up: int = 1,
                     resample_filter: Tensor | None = None) -> Tensor:
    """Per-sample modulated conv: x [N, I, H, W], weight [O, I, k, k], styles [N, I] -> [N, O, H·up, W·up].

    up = 2 is a stride-2 transposed conv followed by the FIR filter with gain 4 (the weight is
    flipped so that it equals zero insertion, then a correlation with `weight`, then the filter).
    """
    k = weight.shape[-1]
    x = x * styles[:, :, None, None].to(x.dtype)
    w = weight.to(x.dtype)
    if up == 1:
        x = F.conv2d(x, w, padding=k // 2)
    else:
        x = F.conv_transpose2d(x, w.flip([2, 3]).transpose(0, 1), stride=up)  # [N, O, H·up + k - up, ...]
        fk = resample_filter.shape[-1]
        p0 = (fk + up - 1) // 2 + k // 2 - (k - 1)
        p1 = (fk - up) // 2 + k // 2 - (k - up)
        x = upfirdn2d(x, resample_filter, padding=(p0, p1, p0, p1), gain=up * up)
    if demodulate:
        x = x * demodulation_coefficients(weight, styles)[:, :, None, None].to(x.dtype)
    return x


class ModulatedConv2d(nn.Module):
    """StyleGAN2 synthesis layer: styles = A(w) (bias 1) -> modulated conv -> noise -> bias -> lrelu·√2 -> clamp."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, kernel_size: int = 3,
                 up: int = 1, demodulate: bool = True, use_noise: bool = True, activation: str = "lrelu",
                 conv_clamp: float | None = None, resample_filter: Sequence[float] = (1, 3, 3, 1)) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.up, self.resolution = in_channels, out_channels, up, resolution
        self.demodulate, self.activation, self.conv_clamp = demodulate, activation, conv_clamp
        self.affine = EqualizedLinear(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        # ToRGB (no demodulation) scales its styles by 1/√(I·k²) instead.
        self.style_gain = 1.0 if demodulate else 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.register_buffer("resample_filter", make_filter(resample_filter), persistent=False)
        self.use_noise = use_noise
        if use_noise:
            self.register_buffer("noise_const", torch.randn(resolution, resolution))
            self.noise_strength = nn.Parameter(torch.zeros([]))

    def forward(self, x: Tensor, w: Tensor, noise_mode: str = "random", generator: Source = None) -> Tensor:
        """x [N, I, H, W], w [N, w_dim] -> [N, O, H·up, W·up]."""
        styles = self.affine(w) * self.style_gain  # [N, I]
        x = modulated_conv2d(x, self.weight, styles, self.demodulate, self.up, self.resample_filter)
        if self.use_noise and noise_mode != "none":
            x = x + layer_noise(x, self.noise_const, noise_mode, generator) * self.noise_strength
        x = x + self.bias.to(x.dtype)[None, :, None, None]
        if self.activation == "lrelu":
            return lrelu_agc(x, clamp=self.conv_clamp)
        return x.clamp(-self.conv_clamp, self.conv_clamp) if self.conv_clamp is not None else x

    def extra_repr(self) -> str:
        return f"in={self.in_channels}, out={self.out_channels}, up={self.up}, demodulate={self.demodulate}"


def layer_noise(x: Tensor, const: Tensor, noise_mode: str, generator: Source) -> Tensor:
    """Per-pixel noise [N, 1, H, W]: fresh N(0,1) draws ('random', from `generator` when given, keyed by
    global sample index for a SampleDraws) or the layer's constant."""
    n, _, h, w = x.shape
    if noise_mode == "const":  # const [H, W], or one map per sample [N, H, W] (projection)
        return const.to(x.dtype).view(-1, 1, h, w)
    if noise_mode != "random":
        raise ValueError(f"noise_mode must be random, const or none, got {noise_mode!r}")
    if generator is None:
        return torch.randn(n, 1, h, w, device=x.device, dtype=x.dtype)
    noise = per_sample(generator, n, lambda lead, g: torch.randn(*lead, 1, h, w, generator=g))
    return noise.to(x.device, x.dtype)
