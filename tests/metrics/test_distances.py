"""PSNR, SSIM and the fmnist-cnn feature distance."""
import math

import torch

from gankit.metrics.distances import feature_distance, psnr, ssim


def test_psnr_and_ssim_known_values():
    x = torch.zeros(2, 1, 16, 16)
    y = x + 0.2  # MSE 0.04 on [-1, 1] -> 20 log10 2 − 10 log10 0.04
    assert torch.allclose(psnr(x, y), torch.full((2,), 20 * math.log10(2) - 10 * math.log10(0.04), dtype=torch.float64))
    noisy = (x + 0.3 * torch.randn(2, 1, 16, 16, generator=torch.Generator().manual_seed(0))).clamp(-1, 1)
    assert torch.allclose(ssim(x, x), torch.ones(2, dtype=torch.float64))
    assert torch.all(ssim(x, noisy) < 0.5) and torch.all(ssim(x, y) > 0.9)  # a shift of brightness keeps structure


def test_feature_distance_is_zero_on_equal_images_and_grows_with_change():
    d = feature_distance()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 1, 28, 28, generator=g) * 2 - 1
    near = (x + 0.05 * torch.randn(3, 1, 28, 28, generator=g)).clamp(-1, 1)
    far = torch.rand(3, 1, 28, 28, generator=g) * 2 - 1
    assert torch.allclose(d(x, x), torch.zeros(3))
    assert torch.all(d(x, near) < d(x, far))
    assert d.protocol()["extractor"]["extractor"] == "fmnist-cnn"
