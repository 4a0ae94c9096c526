import math

import torch

from gankit.nn.fourier import SynthesisInput, disc_frequencies


def test_frequencies_lie_uniformly_in_the_disc():
    f = disc_frequencies(20000, 2.0, torch.Generator().manual_seed(0))
    r = f.norm(dim=1)
    assert r.max() <= 2.0 + 1e-6
    # uniform on a disc: P(r < a) = (a / 2)^2
    assert abs((r < 1.0).float().mean().item() - 0.25) < 0.02
    assert abs((r < math.sqrt(2)).float().mean().item() - 0.5) < 0.02


def test_shape_and_identity_affine_at_init():
    torch.manual_seed(0)
    inp = SynthesisInput(w_dim=8, channels=6, size=12, sampling_rate=8, bandwidth=2)
    w = torch.randn(3, 8)
    x = inp(w)
    assert x.shape == (3, 6, 12, 12)
    assert torch.equal(inp.transform, torch.eye(3))
    # zero affine weights: every w gives the same image
    assert torch.allclose(x[0], x[1], atol=1e-6) and torch.allclose(x[0], x[2], atol=1e-6)


def test_translating_the_transform_shifts_the_features_by_whole_pixels():
    torch.manual_seed(0)
    inp = SynthesisInput(w_dim=4, channels=5, size=16, sampling_rate=8, bandwidth=2)
    with torch.no_grad():
        inp.affine.weight.normal_()  # a w-dependent rotation and translation
    w = torch.randn(2, 4)
    orig = inp(w)
    dx, dy = 3, -2
    inp.transform[0, 2] = -dx / inp.sampling_rate
    inp.transform[1, 2] = -dy / inp.sampling_rate
    moved = inp(w)
    # content moves by (+dx, +dy) pixels: moved[y, x] = orig[y - dy, x - dx]
    assert torch.allclose(moved[:, :, 0:14, 3:16], orig[:, :, 2:16, 0:13], atol=1e-4)


def test_rotating_the_transform_rotates_the_features():
    torch.manual_seed(0)
    inp = SynthesisInput(w_dim=4, channels=5, size=16, sampling_rate=8, bandwidth=2)
    w = torch.randn(1, 4)
    orig = inp(w)
    inp.transform[:2, :2] = torch.tensor([[0.0, 1.0], [-1.0, 0.0]])  # a quarter turn of the plane
    turned = inp(w)
    # a 90° rotation of a square grid of pixel centres maps pixels onto pixels
    assert any(torch.allclose(turned, orig.rot90(k, dims=(2, 3)), atol=1e-4) for k in (1, 3))
