"""FIR resampling, modulated convolution and DiffAugment: closed forms and equivalences."""
import pytest
import torch
from torch.nn import functional as F

from gankit.errors import GankitError
from gankit.nn.augment import diff_augment, install_diffaugment, parse_policy, rand_cutout, rand_translation
from gankit.nn.modulated import (ModulatedConv2d, blur2d, demodulation_coefficients, downsample2d, make_filter,
                                 modulated_conv2d, modulated_weight, upfirdn2d, upsample2d)

F1331 = make_filter([1, 3, 3, 1])


def test_filters_keep_constants_in_the_interior():
    ones = torch.ones(1, 2, 8, 8)
    assert F1331.sum().item() == pytest.approx(1.0) and make_filter([1, 2, 1])[1].item() == pytest.approx(2 / 4)
    assert torch.allclose(upsample2d(ones, F1331)[..., 2:-2, 2:-2], torch.ones(1, 2, 12, 12))
    assert torch.allclose(downsample2d(ones, F1331)[..., 1:-1, 1:-1], torch.ones(1, 2, 2, 2))
    assert torch.allclose(blur2d(ones, make_filter([1, 2, 1]))[..., 1:-1, 1:-1], torch.ones(1, 2, 6, 6))


def test_upfirdn2d_matches_a_direct_convolution():
    x = torch.randn(2, 3, 5, 5)
    f = torch.rand(3, 3)
    # up 2: zero insertion then a true convolution with f (flip for conv2d's correlation)
    z = torch.zeros(2, 3, 10, 10)
    z[..., ::2, ::2] = x
    direct = F.conv2d(F.pad(z, [1, 1, 1, 1]), f.flip([0, 1])[None, None].repeat(3, 1, 1, 1), groups=3)
    assert torch.allclose(upfirdn2d(x, f, up=2, padding=(1, 1, 1, 1)), direct, atol=1e-6)
    # down 2: keep every second sample of the filtered signal
    assert torch.allclose(upfirdn2d(z, f, down=2, padding=(1, 1, 1, 1)), direct[..., ::2, ::2], atol=1e-6)


def test_demodulation_gives_unit_norm_output_weights():
    weight = torch.randn(6, 4, 3, 3)
    styles = torch.rand(5, 4) * 3 + 0.1
    w = modulated_weight(weight, styles)  # [N, O, I, k, k]
    norms = w.square().sum(dim=(2, 3, 4)).sqrt()
    assert torch.allclose(norms, torch.ones(5, 6), atol=1e-5)
    raw = modulated_weight(weight, styles, demodulate=False)
    assert torch.allclose(raw, weight[None] * styles[:, None, :, None, None])


def test_modulated_conv_equals_per_sample_convolution():
    x, weight, styles = torch.randn(3, 4, 6, 6), torch.randn(5, 4, 3, 3), torch.rand(3, 4) + 0.5
    fast = modulated_conv2d(x, weight, styles)
    per_sample = torch.cat([F.conv2d(x[i:i + 1], modulated_weight(weight, styles)[i], padding=1) for i in range(3)])
    assert torch.allclose(fast, per_sample, atol=1e-5)
    assert demodulation_coefficients(weight, styles).shape == (3, 5)


def test_upsampling_modulated_conv_is_zero_insertion_conv_then_fir():
    """Transposed stride-2 conv + [1,3,3,1] (gain 4) == zero insertion -> 3×3 correlation -> FIR, same alignment."""
    x, weight, styles = torch.randn(2, 3, 5, 5), torch.randn(4, 3, 3, 3), torch.rand(2, 3) + 0.5
    fast = modulated_conv2d(x, weight, styles, up=2, resample_filter=F1331)  # [2, 4, 10, 10]
    z = upfirdn2d(x * styles[:, :, None, None], torch.ones(1, 1), up=2, padding=(4, 4, 4, 4))  # zero insertion, padded
    full = upfirdn2d(F.conv2d(z, weight), F1331, gain=4)  # no cropping anywhere
    coeffs = demodulation_coefficients(weight, styles)[:, :, None, None]
    assert fast.shape == (2, 4, 10, 10)
    assert torch.allclose(fast, full[..., 1:11, 1:11] * coeffs, atol=1e-5)


def test_modulated_layer_noise_modes():
    layer = ModulatedConv2d(3, 4, w_dim=6, resolution=8)
    with torch.no_grad():
        layer.noise_strength.fill_(1.0)
    x, w = torch.randn(2, 3, 8, 8), torch.randn(2, 6)
    const_a, const_b = layer(x, w, "const"), layer(x, w, "const")
    assert torch.equal(const_a, const_b)
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    assert torch.equal(layer(x, w, "random", g1), layer(x, w, "random", g2))
    assert not torch.allclose(layer(x, w, "none"), const_a)


def test_diffaugment_is_differentiable_and_seeded():
    x = torch.rand(4, 3, 16, 16, requires_grad=True)
    policy = parse_policy("color,translation,cutout")
    a = diff_augment(x, policy, torch.Generator().manual_seed(3))
    b = diff_augment(x, policy, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and a.shape == x.shape
    a.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    with pytest.raises(GankitError, match="policy"):
        parse_policy("color,zoom")


def test_translation_and_cutout_closed_forms():
    g = torch.Generator().manual_seed(0)
    x = torch.arange(64.0).reshape(1, 1, 8, 8).repeat(16, 1, 1, 1)
    shifted = rand_translation(x, g)
    for img in shifted[:, 0]:  # each output is the input shifted by at most 1 pixel per axis, zero filled
        assert any(torch.equal(img, _shift(x[0, 0], dy, dx)) for dy in (-1, 0, 1) for dx in (-1, 0, 1))
    holes = rand_cutout(torch.ones(16, 1, 8, 8), g)
    zeros = (holes == 0).sum(dim=(1, 2, 3))
    assert zeros.max() == 16 and zeros.min() >= 4  # a 4×4 square, clipped at the border


def _shift(img: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    out = torch.zeros_like(img)
    h, w = img.shape
    out[max(-dy, 0):h - max(dy, 0), max(-dx, 0):w - max(dx, 0)] = img[max(dy, 0):h - max(-dy, 0), max(dx, 0):w - max(-dx, 0)]
    return out


def test_diffaugment_hook_only_in_training_mode():
    D = torch.nn.Identity()
    install_diffaugment(D, "cutout", torch.Generator().manual_seed(0))
    x = torch.ones(4, 1, 8, 8)
    assert (D(x) == 0).any()
    D.eval()
    assert torch.equal(D(x), x)
