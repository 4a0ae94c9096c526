import math

import numpy as np
import pytest
import torch

from gankit.config import load_config
from gankit.errors import GankitError
from gankit.metrics.equivariance import integer_translation
from gankit.models.stylegan3 import (StyleGAN3Generator, StyleGAN3GOptions, modulated_conv2d_sg3,
                                     recommended_r1_gamma, synthesis_schedule)
from gankit.training import Trainer
from gankit.training.blur import DiscriminatorBlurHook, blur_images, blur_sigma
from tests.conftest import tiny_config, tiny_images

# REFERENCE §4, config T at R = 1024 (paper Fig. 4c).
TABLE_FC = [2, 3.17, 5.04, 8, 12.7, 20.2, 32, 50.8, 80.6, 128, 203, 323, 512, 512, 512]
TABLE_S = [16, 16, 32, 32, 64, 128, 128, 256, 256, 512, 1024, 1024, 1024, 1024, 1024]
TABLE_SIZE = [36, 36, 52, 52, 84, 148, 148, 276, 276, 532, 1044, 1044, 1044, 1024, 1024]
TABLE_C = [512, 512, 512, 512, 512, 512, 512, 323, 203, 128, 81, 51, 32, 32, 3]


def small_g(resampling: str = "filtered", config: str = "t", resolution: int = 16, channels: int = 16) -> StyleGAN3Generator:
    torch.manual_seed(0)
    opts = StyleGAN3GOptions(img_resolution=resolution, img_channels=1, z_dim=8, w_dim=8, mapping_layers=1,
                             channel_base=256, channel_max=channels, num_layers=4, config=config, resampling=resampling)
    return StyleGAN3Generator(opts).eval()


def test_schedule_at_1024_matches_the_reference_table():
    s = synthesis_schedule(1024)
    assert np.allclose(s.cutoffs, TABLE_FC, rtol=0.006)
    assert s.sampling_rates.tolist() == TABLE_S
    assert s.sizes.tolist() == TABLE_SIZE
    assert s.channels.tolist() == TABLE_C
    assert np.allclose(s.stopbands[[0, -1]], [2 ** 2.1, 512 * 2 ** 0.3])
    assert np.allclose(s.half_widths, np.maximum(s.stopbands, s.sampling_rates / 2) - s.cutoffs)
    # critically sampled end: the cutoff is the Nyquist rate of the output
    assert np.allclose(s.cutoffs[-3:], s.sampling_rates[-3:] / 2)


def test_generator_api_and_layer_layout():
    G = small_g()
    assert G.num_ws == 4 + 2 and G.w_avg.shape == (8,)
    assert torch.equal(G.synthesis.input.transform, torch.eye(3))
    x = G(torch.randn(3, 8))
    assert x.shape == (3, 1, 16, 16) and x.abs().max() <= 1
    layers = G.synthesis.layers
    assert [layer.out_size for layer in layers][-2:] == [16, 16]
    assert layers[-1].is_torgb and layers[-1].conv_kernel == 1 and layers[-1].up_filter is None
    assert all(layer.conv_kernel == 3 for layer in layers[:-1])
    for layer in layers:  # filters: symmetric, unit DC gain
        for f in (layer.up_filter, layer.down_filter):
            if f is not None:
                assert torch.allclose(f, f.flip(0)) and abs(f.sum().item() - 1) < 1e-5


def test_config_r_uses_1x1_convs_radial_filters_in_non_critical_layers_and_doubled_channels():
    T, R = small_g(config="t"), small_g(config="r")
    layers = R.synthesis.layers
    assert all(layer.conv_kernel == 1 for layer in layers)
    radial = [layer.down_filter is not None and layer.down_filter.ndim == 2 for layer in layers]
    critical = [layer.is_critical for layer in layers]
    assert radial == [not c and layer.down > 1 for c, layer in zip(critical, layers)] and any(radial)
    assert R.synthesis.schedule.channels[1] == min(2 * T.synthesis.schedule.channels[1], 32)


def test_modulated_conv_equals_the_per_sample_grouped_conv():
    torch.manual_seed(0)
    x, weight, styles, gain = torch.randn(2, 3, 6, 6), torch.randn(4, 3, 3, 3), torch.randn(2, 3), torch.tensor(0.7)
    out = modulated_conv2d_sg3(x, weight, styles, demodulate=True, input_gain=gain)
    w = weight / weight.square().mean(dim=(1, 2, 3), keepdim=True).sqrt()
    s = styles / styles.square().mean().sqrt()
    for n in range(2):
        wn = w * s[n].view(1, 3, 1, 1)
        wn = wn / (wn.square().sum(dim=(1, 2, 3), keepdim=True) + 1e-8).sqrt() * gain
        expected = torch.nn.functional.conv2d(x[n:n + 1], wn, padding=2)
        assert torch.allclose(out[n:n + 1], expected, atol=1e-5)
    assert out.shape == (2, 4, 8, 8)  # "full" padding k − 1


def test_magnitude_ema_updates_in_training_only():
    G = small_g()
    layer = G.synthesis.layers[0]
    G(torch.randn(2, 8))
    assert layer.magnitude_ema.item() == 1.0
    G.train()
    x = G.synthesis.input(G.mapping(torch.randn(4, 8))[:, 0])
    expected = x.square().mean().lerp(torch.tensor(1.0), 0.5 ** (4 / 20000))
    layer(x, torch.randn(4, 8))
    assert torch.allclose(layer.magnitude_ema, expected)


def test_magnitude_ema_decays_per_global_batch():
    """2 processes each render 4 images of a batch of 8: the EMA decays as for 8 images (SG3's train.py: global batch)."""
    G = small_g().train()
    G.set_world(2)
    layer = G.synthesis.layers[0]
    x = G.synthesis.input(G.mapping(torch.randn(4, 8))[:, 0]).detach()
    expected = x.square().mean().lerp(torch.tensor(1.0), 0.5 ** (8 / 20000))
    layer(x, torch.randn(4, 8))
    assert torch.allclose(layer.magnitude_ema - 1, expected - 1, rtol=1e-4)


def _shift_psnr(G: StyleGAN3Generator, dx: int, dy: int) -> float:
    """PSNR (peak 2) between G's output with the input moved by (dx, dy) pixels and the same shift of its output."""
    res = G.img_resolution
    with torch.no_grad():
        ws = G.mapping(torch.randn(2, 8, generator=torch.Generator().manual_seed(1)))
        orig = G.synthesis(ws)
        G.synthesis.input.transform[:2, 2] = torch.tensor([-dx / res, -dy / res])
        moved = G.synthesis(ws)
        G.synthesis.input.transform.copy_(torch.eye(3))
    ref, mask = integer_translation(orig, dx / res, dy / res)
    mse = ((ref - moved).double().square() * mask).sum() / mask.sum()
    return float(20 * math.log10(2) - 10 * torch.log10(mse))


def test_integer_shifts_of_the_input_shift_the_output_far_better_than_nearest_resampling():
    # At 32 px the first layers run at 16 samples per unit: an odd shift of the output is half a sample there.
    filtered, nearest = small_g(resolution=32, channels=8), small_g("nearest", resolution=32, channels=8)
    assert filtered.synthesis.schedule.sampling_rates[0] == 16
    alias_free = min(_shift_psnr(filtered, 3, -1), _shift_psnr(filtered, -1, 2))
    naive = max(_shift_psnr(nearest, 3, -1), _shift_psnr(nearest, -1, 2))
    assert alias_free > 60  # untrained: exact up to float error and the border margins
    assert naive < 45 and alias_free > naive + 20


def test_recommended_gamma_follows_the_paper_rule():
    assert recommended_r1_gamma(1024, 32) == pytest.approx(32.8, abs=0.05)  # FFHQ-U 1024, Fig. 16
    for resolution, gamma in [(128, 0.5), (256, 2), (512, 8), (1024, 32)]:  # SG3 docs/configs.md, batch 32
        assert recommended_r1_gamma(resolution, 32) == pytest.approx(gamma, rel=0.03)
    for preset in ("stylegan3-t", "stylegan3-r"):  # the CPU presets use twice the rule (documented in them)
        assert recommended_r1_gamma(32, 32, gamma0=0.002) == pytest.approx(load_config(preset).reg.r1.gamma)


def test_presets():
    t, r = load_config("stylegan3-t"), load_config("stylegan3-r")
    assert (t.G["config"], r.G["config"]) == ("t", "r")
    assert t.optim.G.lr == 0.0025 and t.optim.D.lr == 0.002 and t.reg.r1.interval == 16
    assert t.augment.blur_sigma == 0 and r.augment.blur_sigma > 0
    paper_t, paper_r = load_config("stylegan3-t-paper"), load_config("stylegan3-r-paper")
    assert paper_t.G["num_layers"] == 14 and paper_t.G["channel_base"] == 32768 and paper_t.resolution == 1024
    assert paper_r.augment.blur_sigma == 10 and paper_r.augment.blur_fade_kimg == 200
    with pytest.raises(GankitError, match="G.config"):
        StyleGAN3Generator(StyleGAN3GOptions(img_resolution=16, config="x"))


def test_blur_sigma_fades_linearly_and_an_r_training_step_with_r1_blurs_d_input():
    assert blur_sigma(0, 10, 200) == 10 and blur_sigma(100_000, 10, 200) == 5 and blur_sigma(300_000, 10, 200) == 0
    x = torch.zeros(1, 1, 9, 9)
    x[0, 0, 4, 4] = 1
    y = blur_images(x, 1.0)
    k = 2.0 ** -torch.arange(-3.0, 4.0).square()  # σ = 1: taps 2^(−k²), |k| ≤ 3
    assert y.shape == x.shape and abs(y.sum().item() - 1) < 1e-5
    assert y[0, 0, 4, 4].item() == pytest.approx((k[3] / k.sum()).item() ** 2)
    assert torch.allclose(y[0, 0], y[0, 0].t(), atol=1e-7)
    cfg = tiny_config("stylegan3-r", "augment.blur_sigma=1.0", "augment.blur_fade_kimg=1", "reg.r1.interval=1", steps=1)
    trainer = Trainer(cfg, data=tiny_images(resolution=8))
    seen = []
    trainer.D.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach().clone()))
    hook = next(h for h in trainer.hooks if isinstance(h, DiscriminatorBlurHook))
    before = [p.detach().clone() for p in trainer.G.parameters()]
    trainer.train()
    assert hook.sigma == pytest.approx(1.0) and seen
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.G.parameters()))
    assert trainer.G.synthesis.layers[0].magnitude_ema.item() != 1.0  # updated in training
    reals = seen[0][:8]  # uniform noise in [-1, 1] has mean |neighbour difference| 2/3; blurred, far less
    assert reals.diff(dim=-1).abs().mean() < 0.3


def test_checkpointed_layers_give_the_same_images_gradients_and_magnitude_emas():
    """G.checkpoint_layers=true recomputes each layer in the backward pass: identical numbers, one EMA update."""
    def run(checkpoint):
        torch.manual_seed(0)
        G = StyleGAN3Generator(StyleGAN3GOptions(img_resolution=16, img_channels=3, z_dim=8, w_dim=8,
                                                 mapping_layers=1, channel_base=256, channel_max=16, num_layers=3,
                                                 checkpoint_layers=checkpoint))
        img = G(torch.randn(2, 8, generator=torch.Generator().manual_seed(1)))
        img.square().sum().backward()
        emas = [layer.magnitude_ema.clone() for layer in G.synthesis.layers]
        return img.detach(), [p.grad.clone() for p in G.parameters()], emas

    (img, grads, emas), (img_ck, grads_ck, emas_ck) = run(False), run(True)
    assert torch.equal(img, img_ck)
    assert all(torch.allclose(a, b, rtol=1e-5, atol=1e-7) for a, b in zip(grads, grads_ck))
    assert all(torch.equal(a, b) for a, b in zip(emas, emas_ck))  # updated once, not again when recomputed
