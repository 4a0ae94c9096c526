"""Image-pair distances for projection and PPL: PSNR, SSIM and an offline perceptual feature distance.

LPIPS-VGG16 (the papers' distance) needs VGG16 weights that cannot be downloaded here; gankit does
not implement it yet. The offline distance is LPIPS's form with uniform layer weights on the three
conv blocks of the shipped `fmnist-cnn` evaluator (gankit.metrics.features): each block's activations
are unit-normalised over channels, and the distance is the sum over blocks of the spatial mean of
the squared difference, summed over channels. Images are prepared as the extractor prepares them
(grey, 28×28; 32×32 centre-cropped, other sizes resized), so it suits 28/32 px grey images best.
Every value carries `protocol()`.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from gankit.errors import GankitError

Tensor = torch.Tensor


def psnr(x: Tensor, y: Tensor) -> Tensor:
    """PSNR in dB of images [N, C, H, W] in [-1, 1] (peak-to-peak 2, i.e. 255 on a uint8 scale): [N]."""
    mse = (x.double() - y.double()).square().flatten(1).mean(1)  # [N]
    return 20 * math.log10(2.0) - 10 * torch.log10(mse.clamp(min=1e-20))


def _gaussian_window(size: int, sigma: float = 1.5) -> Tensor:
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-coords.square() / (2 * sigma * sigma))
    return g / g.sum()  # [size]


def ssim(x: Tensor, y: Tensor) -> Tensor:
    """SSIM (Wang et al. 2004: Gaussian window 11, σ 1.5, K1 0.01, K2 0.03; the window shrinks to
    the largest odd size that fits) of images [N, C, H, W] in [-1, 1], mean over channels and valid pixels: [N]."""
    x01, y01 = (x.double() + 1) / 2, (y.double() + 1) / 2  # [N, C, H, W] in [0, 1]
    n, c, h, w = x01.shape
    size = min(11, h - (1 - h % 2), w - (1 - w % 2))
    g = _gaussian_window(size)
    kernel = (g[:, None] * g[None, :]).expand(c, 1, size, size)  # [C, 1, k, k]
    blur = lambda t: F.conv2d(t, kernel, groups=c)  # noqa: E731  valid region only
    mu_x, mu_y = blur(x01), blur(y01)
    var_x = blur(x01 * x01) - mu_x.square()
    var_y = blur(y01 * y01) - mu_y.square()
    cov = blur(x01 * y01) - mu_x * mu_y
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x.square() + mu_y.square() + c1) * (var_x + var_y + c2))
    return s.flatten(1).mean(1)  # [N]


class FeatureDistance(nn.Module):
    """d(x, y) [N] between images [N, C, H, W] in [-1, 1] in the conv-block features of fmnist-cnn."""

    def __init__(self, extractor: nn.Module) -> None:
        super().__init__()
        if not hasattr(extractor, "body") or not hasattr(extractor, "prepare"):
            raise GankitError("the feature distance needs the fmnist-cnn extractor (its conv blocks)")
        self.extractor = extractor.eval().requires_grad_(False)

    def features(self, images: Tensor) -> list[Tensor]:
        """Unit-normalised (over channels) activations of each conv block: [N, C_k, H_k, W_k] each."""
        x = self.extractor.prepare(images)  # [N, 1, 28, 28]
        out = []
        for block in self.extractor.body:
            if isinstance(block, nn.Flatten):
                break
            x = block(x)
            out.append(x / (x.square().sum(1, keepdim=True) + 1e-10).sqrt())
        return out

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        fx, fy = self.features(x), self.features(y)
        return sum((a - b).square().sum(1).mean((1, 2)) for a, b in zip(fx, fy))  # [N]

    def protocol(self) -> dict:
        """The distance's definition and the extractor's protocol (weights sha256, input size, resize)."""
        return {"distance": "fmnist-cnn conv-block features, channel-unit-normalised, squared L2, "
                            "spatial mean, summed over the 3 blocks (LPIPS form, uniform weights)",
                "extractor": self.extractor.protocol()}


def feature_distance(weights: Optional[str] = None, device: str | torch.device = "cpu") -> FeatureDistance:
    """The offline feature distance on the shipped fmnist-cnn weights (or a retrained `weights` file)."""
    from gankit.metrics.features import load_extractor

    return FeatureDistance(load_extractor("fmnist-cnn", weights, device))
