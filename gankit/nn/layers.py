"""Layers of ProGAN and StyleGAN (REFERENCE §1–§3): equalized learning rate, pixel norm, minibatch stddev.

Equalized learning rate (Karras et al. 2018 §4.1): parameters are stored as N(0, 1) / lr_multiplier
and scaled at run time by `gain / sqrt(fan_in) * lr_multiplier`, so Adam's per-parameter step has
the same effect on every layer whatever its fan-in. Biases are stored / lr_multiplier and scaled by
lr_multiplier (StyleGAN's mapping network uses lr_multiplier 0.01).
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

SQRT2 = math.sqrt(2.0)


def lrelu_agc(x: torch.Tensor, slope: float = 0.2, gain: float = SQRT2, clamp: float | None = None) -> torch.Tensor:
    """Leaky ReLU times `gain` (√2 keeps the signal's second moment), optionally clamped to ±clamp."""
    x = F.leaky_relu(x, slope) * gain
    return x.clamp(-clamp, clamp) if clamp is not None else x


class EqualizedLinear(nn.Module):
    """y = x @ (W * gain/√in * lr_mul)ᵀ + b * lr_mul, then an optional leaky ReLU (gain √2)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, bias_init: float = 0.0,
                 gain: float = 1.0, lr_multiplier: float = 1.0, activation: str = "linear") -> None:
        super().__init__()
        if activation not in ("linear", "lrelu"):
            raise ValueError(f"activation must be linear or lrelu, got {activation!r}")
        self.in_features, self.out_features, self.activation = in_features, out_features, activation
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)  # [out, in]
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init) / lr_multiplier)) if bias else None
        self.weight_gain = gain * lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, in] -> [N, out]
        bias = self.bias * self.bias_gain if self.bias is not None else None
        x = F.linear(x, self.weight * self.weight_gain, bias)
        return lrelu_agc(x) if self.activation == "lrelu" else x

    def extra_repr(self) -> str:
        return f"in={self.in_features}, out={self.out_features}, activation={self.activation}"


class EqualizedConv2d(nn.Module):
    """Same-padded conv with equalized learning rate, then an optional leaky ReLU (gain √2)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True,
                 gain: float = 1.0, lr_multiplier: float = 1.0, activation: str = "linear") -> None:
        super().__init__()
        if activation not in ("linear", "lrelu"):
            raise ValueError(f"activation must be linear or lrelu, got {activation!r}")
        self.in_channels, self.out_channels, self.activation = in_channels, out_channels, activation
        self.padding = kernel_size // 2
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size) / lr_multiplier)
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = gain * lr_multiplier / math.sqrt(in_channels * kernel_size * kernel_size)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, in, H, W] -> [N, out, H, W]
        bias = self.bias * self.bias_gain if self.bias is not None else None
        x = F.conv2d(x, self.weight * self.weight_gain, bias, padding=self.padding)
        return lrelu_agc(x) if self.activation == "lrelu" else x

    def extra_repr(self) -> str:
        return (f"in={self.in_channels}, out={self.out_channels}, kernel={self.weight.shape[-1]}, "
                f"activation={self.activation}")


class PixelNorm(nn.Module):
    """b = a / sqrt(mean over channels of a² + eps) (ProGAN §4.2); works on [N, C] and [N, C, H, W]."""

    def __init__(self, eps: float = 1e-8) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + self.eps)


class MinibatchStdDev(nn.Module):
    """Append the std over groups of `group_size` samples as `num_channels` extra feature maps.

    Per group: std over the group of each feature (√(var + 1e-8)), averaged over the channels of
    each of `num_channels` slices and over H, W; tiled as constant maps (ProGAN §3, StyleGAN2).
    The batch must be divisible by min(group_size, N).
    """

    def __init__(self, group_size: int = 4, num_channels: int = 1) -> None:
        super().__init__()
        self.group_size, self.num_channels = group_size, num_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, C, H, W] -> [N, C + F, H, W]
        n, c, h, w = x.shape
        g = min(self.group_size, n)
        if n % g:
            raise ValueError(f"minibatch stddev: batch {n} is not divisible by group size {g}")
        f = self.num_channels
        y = x.reshape(g, n // g, f, c // f, h, w)  # [G, M, F, c, H, W]: sample i is in group i % M
        y = (y.var(dim=0, unbiased=False) + 1e-8).sqrt()  # [M, F, c, H, W]
        y = y.mean(dim=(2, 3, 4))  # [M, F]
        y = y.reshape(-1, f, 1, 1).repeat(g, 1, h, w)  # [N, F, H, W]
        return torch.cat([x, y], dim=1)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}, num_channels={self.num_channels}"
