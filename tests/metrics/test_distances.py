"""PSNR, SSIM, the offline feature distances (fmnist-cnn, effnet-lite0) and the choice of distance."""
import math

import pytest
import torch

from gankit.errors import GankitError
from gankit.metrics import distances
from gankit.metrics.distances import EffNetDistance, feature_distance, psnr, select_distance, ssim
from gankit.metrics.features.effnet import EffNetLite0


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
    assert d.protocol()["extractor"]["extractor"] == "fmnist-cnn" and d.protocol()["distance"] == "fmnist-cnn"


def test_effnet_distance_uses_the_last_block_at_each_resolution():
    torch.manual_seed(0)
    d = EffNetDistance(EffNetLite0().eval())  # random weights: the form, not the quality
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 32, 32, generator=g) * 2 - 1
    assert [tuple(f.shape[1:]) for f in d.features(x)] == [(16, 112, 112), (24, 56, 56), (40, 28, 28), (112, 14, 14),
                                                          (320, 7, 7)]
    assert torch.allclose(d(x, x), torch.zeros(2))
    assert torch.all(d(x, torch.rand(2, 3, 32, 32, generator=g) * 2 - 1) > 0)


def test_selection_grey_is_fmnist_cnn_and_rgb_falls_back_to_pixels_with_a_note(monkeypatch):
    assert select_distance(1, 28).name == "fmnist-cnn"
    monkeypatch.setattr(distances, "effnet_installed", lambda: False)
    pixel = select_distance(3, 32)
    x, y = torch.zeros(2, 3, 4, 4), torch.full((2, 3, 4, 4), 0.5)
    assert pixel.name == "pixel-mse" and torch.allclose(pixel(x, y), torch.full((2,), 0.25))
    assert "gankit[effnet]" in pixel.note and pixel.protocol()["distance_note"] == pixel.note


@pytest.mark.skipif(not distances.effnet_installed(), reason="optional extra gankit[effnet] not installed")
def test_selection_rgb_is_effnet_lite0_when_installed():
    d = select_distance(3, 32)
    assert d.name == "effnet-lite0" and d.protocol()["extractor"]["weights_sha256"] != "random"
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 32, 32, generator=g) * 2 - 1
    assert all(torch.allclose(f.norm(dim=1), torch.ones(1), atol=1e-4) for f in d.features(x))  # unit over channels
    near = (x + 0.05 * torch.randn(2, 3, 32, 32, generator=g)).clamp(-1, 1)
    assert torch.allclose(d(x, x), torch.zeros(2), atol=1e-6) and torch.all(d(x, near) < d(x, x.flip(-1)))


def test_selection_takes_lpips_when_its_weights_are_given(accept_lpips_files):
    vgg, lin = accept_lpips_files
    for channels in (1, 3):
        assert select_distance(channels, 16, str(vgg), str(lin)).name == "lpips-vgg16"
    with pytest.raises(GankitError, match="at least 16x16"):
        select_distance(1, 8, str(vgg), str(lin))
    with pytest.raises(GankitError, match="--lpips-lin needs --lpips-weights"):
        select_distance(1, 28, lpips_lin=str(lin))
