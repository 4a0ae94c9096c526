import math

import pytest
import torch

from gankit.nn import EqualizedConv2d, EqualizedLinear, MinibatchStdDev, PixelNorm, lrelu_agc


def test_equalized_linear_runtime_scale_and_lr_multiplier():
    torch.manual_seed(0)
    layer = EqualizedLinear(16, 8, bias_init=1.0, lr_multiplier=0.01)
    x = torch.randn(4, 16)
    expected = x @ (layer.weight * 0.01 / 4).T + layer.bias * 0.01
    assert torch.allclose(layer(x), expected)
    assert torch.allclose(layer.bias * 0.01, torch.ones(8))  # effective bias = bias_init
    assert layer.weight.std().item() == pytest.approx(100, rel=0.2)  # stored N(0,1)/lr_mul


def test_equalized_conv_keeps_unit_variance_through_lrelu_gain():
    torch.manual_seed(0)
    conv = EqualizedConv2d(64, 64, 3, activation="lrelu")
    x = torch.randn(8, 64, 16, 16)
    y = conv(x)[:, :, 1:-1, 1:-1]  # interior, away from zero padding
    assert y.shape == (8, 64, 14, 14)
    assert y.square().mean().item() == pytest.approx(1.0, rel=0.15)  # He gain √2 with lrelu·√2


def test_pixel_norm_unit_rms_over_channels():
    x = torch.randn(3, 5, 4, 4) * 7
    rms = PixelNorm()(x).square().mean(dim=1)
    assert torch.allclose(rms, torch.ones_like(rms), atol=1e-5)


def test_minibatch_stddev_matches_direct_group_computation():
    torch.manual_seed(0)
    x = torch.randn(8, 6, 3, 3)
    y = MinibatchStdDev(group_size=4, num_channels=2)(x)
    assert y.shape == (8, 8, 3, 3)
    for i in range(8):
        members = x[[j for j in range(8) if j % 2 == i % 2]]  # group of sample i: same index mod M=2
        std = (members.var(dim=0, unbiased=False) + 1e-8).sqrt()  # [6, 3, 3]
        for k in range(2):
            expected = std[3 * k:3 * k + 3].mean()
            assert torch.allclose(y[i, 6 + k], expected.expand(3, 3), atol=1e-6)


def test_minibatch_stddev_rejects_indivisible_batch():
    with pytest.raises(ValueError, match="divisible"):
        MinibatchStdDev(group_size=4)(torch.randn(6, 2, 2, 2))


def test_lrelu_agc_gain_and_clamp():
    x = torch.tensor([-1.0, 2.0, 100.0])
    y = lrelu_agc(x, clamp=10.0)
    assert torch.allclose(y, torch.tensor([-0.2 * math.sqrt(2), 2 * math.sqrt(2), 10.0]))
