import math

import pytest
import torch
from torch import nn

from gankit.metrics.equivariance import (equivariance, fractional_pseudo_rotation, fractional_rotation,
                                         fractional_translation, integer_translation)
from gankit.nn.fourier import SynthesisInput

RES = 32


def _band_limited_image(max_freq: float = 0.15, seed: int = 0) -> tuple[torch.Tensor, callable]:
    """A sum of sinusoids below `max_freq` cycles/pixel, as samples [1, 1, RES, RES] and as a function."""
    g = torch.Generator().manual_seed(seed)
    freqs = (torch.rand(4, 2, generator=g, dtype=torch.float64) * 2 - 1) * max_freq / math.sqrt(2)
    phases = torch.rand(4, generator=g, dtype=torch.float64) * 2 * math.pi

    def fn(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return sum(torch.cos(2 * math.pi * (f[0] * x + f[1] * y) + p) for f, p in zip(freqs, phases)) / 4

    centres = torch.arange(RES, dtype=torch.float64) + 0.5
    yy, xx = torch.meshgrid(centres, centres, indexing="ij")
    return fn(xx, yy).float()[None, None], fn


def _psnr(a, b, mask):
    mse = ((a - b).double().square() * mask).sum() / mask.sum()
    return float(20 * math.log10(2) - 10 * torch.log10(mse))


def test_integer_translation_moves_pixels_and_masks_the_fill():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    z, m = integer_translation(x, 0.25, -0.5)  # +1 pixel in x, -2 in y
    assert torch.equal(z[0, 0, :2, 1:], x[0, 0, 2:, :3])
    assert m.sum() == 2 * 3 and torch.all(z[m == 0] == 0)


def test_fractional_translation_and_rotation_of_a_band_limited_image_match_the_continuous_signal():
    x, fn = _band_limited_image()
    centres = torch.arange(RES, dtype=torch.float64) + 0.5
    yy, xx = torch.meshgrid(centres, centres, indexing="ij")
    tx, ty = 0.071, -0.043
    moved, mask = fractional_translation(x, tx, ty)
    assert _psnr(moved, fn(xx - tx * RES, yy - ty * RES).float()[None, None], mask) > 50
    angle = 0.7
    rotated, mask = fractional_rotation(x, angle)
    c, s = math.cos(angle), math.sin(angle)
    X, Y = xx - RES / 2, yy - RES / 2  # R_α samples the original at [[c, −s], [s, c]]·p about the centre
    expected = fn(c * X - s * Y + RES / 2, s * X + c * Y + RES / 2).float()[None, None]
    assert _psnr(rotated, expected, mask) > 50
    assert 0.3 < mask.mean() < 0.7
    pseudo, pmask = fractional_pseudo_rotation(x, angle)  # keeps a low-frequency image (nearly) intact
    assert _psnr(pseudo, x, pmask) > 50


class InputOnlyGenerator(nn.Module):
    """A 'generator' whose image is the Fourier input itself (3 channels): exactly equivariant in theory."""

    def __init__(self, follow_transform: bool = True) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.img_resolution = 4, 0, RES
        self.mapping = lambda z, c=None: z[:, None, :].expand(-1, 2, -1)
        self.synthesis = nn.Module()
        self.synthesis.input = SynthesisInput(4, 3, RES, RES, bandwidth=4)
        with torch.no_grad():
            self.synthesis.input.affine.weight.normal_()  # w-dependent rotation and translation
        self.follow = follow_transform
        self.synthesis.forward = self._synthesis

    def _synthesis(self, ws, noise_mode="const"):
        inp = self.synthesis.input
        if self.follow:
            return inp(ws[:, 0])
        saved = inp.transform.clone()
        inp.transform.copy_(torch.eye(3))
        out = inp(ws[:, 0])
        inp.transform.copy_(saved)
        return out


def test_an_exactly_equivariant_input_scores_high_and_an_input_that_ignores_the_transform_scores_low():
    torch.manual_seed(0)
    scores = equivariance(InputOnlyGenerator(), n=4, seed=1)
    assert scores["eqt"] > 100 and scores["eqt_frac"] > 45 and scores["eqr"] > 50  # float32 / Lanczos-window limits
    torch.manual_seed(0)
    frozen = equivariance(InputOnlyGenerator(follow_transform=False), n=4, seed=1)
    assert all(frozen[k] < 20 and frozen[k] < scores[k] - 30 for k in frozen)


def test_the_metric_restores_the_transform_and_needs_one():
    G = InputOnlyGenerator()
    G.synthesis.input.transform[0, 2] = 0.25
    equivariance(G, n=4, seed=0, metrics=["eqt"])
    assert G.synthesis.input.transform[0, 2] == 0.25
    with pytest.raises(ValueError, match="transformable input"):
        equivariance(nn.Linear(2, 2), n=4)


def test_registered_metrics_measure_a_stylegan3_and_refuse_a_generator_without_a_transformable_input():
    from gankit.errors import GankitError
    from gankit.metrics.evaluate import EvalContext, GeneratorSource
    from gankit.models.dcgan import DCGANGenerator, DCGANGOptions
    from gankit.models.stylegan3 import StyleGAN3Generator, StyleGAN3GOptions
    from gankit.registry import METRICS

    torch.manual_seed(0)
    G = StyleGAN3Generator(StyleGAN3GOptions(img_resolution=16, img_channels=1, z_dim=8, w_dim=8, mapping_layers=1,
                                             channel_base=64, channel_max=8, num_layers=3)).eval()
    ctx = EvalContext(GeneratorSource(G), "fashion-mnist", [METRICS.get("eqt")], progress=False)
    ctx.check(METRICS.get("eqt"))
    values, floor = METRICS.get("eqt").run(ctx, 4)
    assert values["eqt"] > 60 and floor is None
    assert METRICS.get("eqr").default_n == 500
    dcgan = DCGANGenerator(DCGANGOptions(img_resolution=8, img_channels=1, z_dim=4, base_channels=4))
    with pytest.raises(GankitError, match="transformable input"):
        EvalContext(GeneratorSource(dcgan), "fashion-mnist", []).check(METRICS.get("eqt"))
