"""The ADA pipeline: identity at p = 0, exact blits, resampling geometry, colour on grey, gradients."""
from __future__ import annotations

import math

import pytest
import torch

from gankit.errors import GankitError
from gankit.nn.draws import SampleDraws
from gankit.nn.ada import (SYM6, AdaptiveAugment, apply_colour, blit, parse_pipeline, resample, rotation, scaling,
                           translation)


def images(n: int = 4, c: int = 1, size: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, c, size, size, generator=torch.Generator().manual_seed(seed))


def full(n: int, value: float) -> torch.Tensor:
    return torch.full((n,), value)


def test_pipeline_names():
    assert parse_pipeline("bgc")[:3] == ("xflip", "rotate90", "xint") and len(parse_pipeline("bgc")) == 12
    assert parse_pipeline("c") == ("brightness", "contrast", "lumaflip", "hue", "saturation")
    for bad in ("", "x", "bb", "bgcd"):
        with pytest.raises(GankitError, match="augment.pipeline"):
            parse_pipeline(bad)


def test_p_zero_is_the_identity_bit_for_bit():
    x = images(c=3)
    gen = torch.Generator().manual_seed(1)
    state = gen.get_state()
    out = AdaptiveAugment("bgc", p=0.0, generator=gen)(x)
    assert out is x and torch.equal(gen.get_state(), state)  # nothing drawn either


def test_samples_that_draw_no_op_are_untouched_bit_for_bit():
    x = images(n=64, c=3)
    out = AdaptiveAugment("bgc", p=0.05, generator=torch.Generator().manual_seed(0))(x)
    same = (out == x).flatten(1).all(1)
    assert 0 < same.sum() < 64  # some samples changed, the rest are exactly the input


def test_sym6_is_orthogonal():
    h = torch.tensor(SYM6, dtype=torch.float64)
    for shift in range(0, 6):
        dot = (h[: len(h) - 2 * shift] * h[2 * shift:]).sum().item()
        assert dot == pytest.approx(1.0 if shift == 0 else 0.0, abs=1e-9)


def test_90_degree_rotations_and_flips_are_exact():
    x = images()
    quarter = rotation(full(4, math.pi / 2)).round()
    assert torch.equal(blit(x, quarter), torch.rot90(x, -1, (2, 3)))  # content turns clockwise on screen (y down)
    assert torch.equal(blit(blit(blit(blit(x, quarter), quarter), quarter), quarter), x)
    flip = scaling(full(4, -1.0), full(4, 1.0))
    assert torch.equal(blit(x, flip), x.flip(-1))
    assert torch.equal(blit(blit(x, flip), flip), x)  # an involution


def test_integer_translation_reflects_at_the_border():
    x = images(n=1, size=8)
    out = blit(x, translation(full(1, 2.0), full(1, 0.0)))  # content moves 2 px right
    assert torch.equal(out[..., 2:], x[..., :-2])
    assert torch.equal(out[..., 0], x[..., 2]) and torch.equal(out[..., 1], x[..., 1])  # reflected


def test_resampling_the_identity_and_integer_shifts():
    x = images(size=16)
    assert torch.allclose(resample(x, torch.eye(3).expand(4, 3, 3)), x, atol=1e-4)
    shift = translation(torch.tensor([1.0, -2.0, 3.0, 0.0]), torch.tensor([0.0, 2.0, -1.0, -3.0]))
    assert torch.allclose(resample(x, shift), blit(x, shift), atol=1e-4)  # fractional path, integer amounts


def test_resampled_rotation_of_a_smooth_image_is_close_to_the_exact_one():
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, 24), torch.linspace(-1, 1, 24), indexing="ij")
    x = torch.exp(-((xs - 0.3) ** 2 + (ys + 0.2) ** 2) / 0.1)[None, None]  # an off-centre blob
    quarter = rotation(full(1, math.pi / 2)).round()
    err = (resample(x, quarter) - blit(x, quarter)).abs().max().item()
    assert err < 0.02  # rotated about the true centre (a 1-pixel error would be ~0.2 here)


def test_colour_on_grey_acts_on_luma_as_rgb_grey_would():
    x = images(n=3, c=1)
    m = torch.randn(3, 4, 4, generator=torch.Generator().manual_seed(2))
    as_rgb = apply_colour(x.repeat(1, 3, 1, 1), m).mean(1, keepdim=True)
    assert torch.allclose(apply_colour(x, m), as_rgb, atol=1e-5)


def test_luma_flip_negates_grey_and_hue_keeps_grey_fixed():
    aug = AdaptiveAugment("c", p=1.0, generator=torch.Generator().manual_seed(0))
    m, _ = aug._colour_matrix(64, 3)
    grey = torch.rand(64, 1, 4, 4).repeat(1, 3, 1, 1)
    out = apply_colour(grey, m)
    # hue rotation and saturation leave the luma axis fixed: a grey RGB image stays grey
    assert torch.allclose(out[:, 0], out[:, 1], atol=1e-5) and torch.allclose(out[:, 1], out[:, 2], atol=1e-5)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("pipeline", ["b", "g", "c", "bgc"])
def test_gradients_reach_the_generator_through_every_op(pipeline, channels):
    torch.manual_seed(0)
    G = torch.nn.Linear(4, channels * 8 * 8)
    D = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(channels * 64, 1))
    aug = AdaptiveAugment(pipeline, p=1.0, generator=torch.Generator().manual_seed(3))
    fakes = G(torch.randn(16, 4)).reshape(16, channels, 8, 8)
    out = aug(fakes)
    assert not torch.equal(out, fakes)
    D(out).sum().backward()
    assert G.weight.grad is not None and torch.isfinite(G.weight.grad).all() and G.weight.grad.abs().sum() > 0


def test_r1_differentiates_through_the_pipeline_twice():
    torch.manual_seed(0)
    D = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Softplus(), torch.nn.Flatten(), torch.nn.LazyLinear(1))
    aug = AdaptiveAugment("bgc", p=1.0, generator=torch.Generator().manual_seed(0))
    aug.install(D)
    reals = images(n=4, c=3, size=8).requires_grad_(True)
    (grad,) = torch.autograd.grad(D(reals).sum(), reals, create_graph=True)
    grad.square().sum().backward()
    for weight in (D[0].weight, D[3].weight):  # (biases do not enter a gradient with respect to the input)
        assert weight.grad is not None and torch.isfinite(weight.grad).all() and weight.grad.abs().sum() > 0


def test_hook_is_off_in_eval_mode_and_draws_are_keyed_by_global_sample():
    D = torch.nn.Identity()
    aug = AdaptiveAugment("bgc", p=0.7, generator=torch.Generator().manual_seed(5))
    aug.install(D)
    x = images(n=8, c=3)
    assert torch.equal(D.eval()(x), x)
    draws = SampleDraws(torch.Generator().manual_seed(5))
    aug = AdaptiveAugment("bgc", p=0.7, generator=draws)
    with draws.rows(11, 8, 0, 8):
        whole = aug(x)
    parts = []
    for start in (0, 4):  # two processes (or accumulation rounds) of 4
        with draws.rows(11, 8, start, 4):
            parts.append(aug(x[start:start + 4]))
    # sample j gets the same transformation; float rounding differs (the border padding follows the batch)
    assert torch.allclose(torch.cat(parts), whole, atol=5e-4)
