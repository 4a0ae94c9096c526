"""ProGAN: the fade-in is continuous and exact, every stage trains, the paper's sizes and gains."""
import math

import pytest
import torch

from gankit.config import load_config
from gankit.errors import GankitError
from gankit.models import build_models, resolve_model_options
from gankit.models.progan import (ProGANDiscriminator, ProGANDOptions, ProGANGenerator, ProGANGOptions, channels,
                                  num_levels)
from gankit.training import Trainer
from tests.conftest import tiny_config, tiny_images

SMALL = dict(fmap_base=64, fmap_max=8, c_dim=10)
Z_DIM = 8


def _pair(resolution):
    torch.manual_seed(0)
    G = ProGANGenerator(ProGANGOptions(img_resolution=resolution, z_dim=Z_DIM, **SMALL))
    D = ProGANDiscriminator(ProGANDOptions(img_resolution=resolution, **SMALL))
    return G, D


def _smaller_copy(net, cls, opts_cls, resolution):
    """The same network built one resolution lower, sharing every weight it has."""
    extra = {"z_dim": Z_DIM} if cls is ProGANGenerator else {}
    small = cls(opts_cls(img_resolution=resolution, **SMALL, **extra))
    small.load_state_dict({k: v for k, v in net.state_dict().items() if k in small.state_dict() and k != "lod"},
                          strict=False)
    return small  # at lod 0: fully grown


def _at(net, lod, *args):
    net.lod.fill_(lod)
    return net.raw(*args) if isinstance(net, ProGANGenerator) else net(*args)


def _inputs(n=8):
    z = torch.randn(n, Z_DIM, generator=torch.Generator().manual_seed(1))
    c = torch.nn.functional.one_hot(torch.arange(n) % 10, 10).float()
    return z, c


@torch.no_grad()
def test_generator_fade_is_exact():
    """16 px G fading its 16x16 block in (lod 1 -> 0): the output is the lerp of the two stages' outputs,
    and at alpha = 0 (lod 1) it is the 8 px G's output (same weights) upsampled."""
    G16, _ = _pair(16)
    z, c = _inputs()
    new, old = _at(G16, 0.0, z, c), _at(G16, 1.0, z, c)  # [8, 1, 16, 16]
    for beta in (0.25, 0.5, 1 - 2 ** -10):
        assert torch.allclose(_at(G16, beta, z, c), torch.lerp(new, old, beta), atol=1e-6)
    G8 = _smaller_copy(G16, ProGANGenerator, ProGANGOptions, 8)
    assert torch.allclose(old, torch.nn.functional.interpolate(G8.raw(z, c), scale_factor=2), atol=1e-6)
    assert (new - old).abs().max() > 0.1  # the new block does change the picture
    G16.lod.fill_(2.0)  # the 4x4 stage: 4x4 blocks of equal pixels
    assert torch.equal(G16(z, c), G16(z, c)[:, :, ::4, ::4].repeat_interleave(4, 2).repeat_interleave(4, 3))


@torch.no_grad()
def test_discriminator_fade_is_exact():
    """At alpha = 0 (lod 1) the 16 px D scores x as the 8 px D (same weights) scores avgpool(x);
    as alpha rises from 0 its score moves continuously."""
    _, D16 = _pair(16)
    x = torch.randn(8, 1, 16, 16)
    _, c = _inputs()
    D8 = _smaller_copy(D16, ProGANDiscriminator, ProGANDOptions, 8)
    before = _at(D16, 1.0, x, c)
    assert torch.allclose(before, D8(torch.nn.functional.avg_pool2d(x, 2), c), atol=1e-5)
    delta = 2 ** -12
    step = (_at(D16, 1 - delta, x, c) - before).abs().max()
    assert step < 1e-3 * (_at(D16, 0.5, x, c) - before).abs().max() + 1e-6  # ~delta/0.5 of the half-way change
    assert (_at(D16, 0.0, x, c) - before).abs().max() > 1e-3


def test_blocks_above_the_stage_get_no_gradient():
    G, D = _pair(16)
    z, c = _inputs()
    G.lod.fill_(1.0)
    D.lod.fill_(1.0)
    D(G(z, c), c).sum().backward()
    assert all(p.grad is None for p in [*G.blocks[2].parameters(), *G.to_rgb[2].parameters(), *D.from_rgb[2].parameters()])
    assert all(p.grad is not None for p in G.blocks[1].parameters())


@pytest.mark.parametrize("lod", [2.0, 1.5, 1.0, 0.5, 0.0])
def test_every_stage_trains_a_step(lod):
    """One training step at each stage of a 16 px model: the block of that stage learns, finite losses."""
    trainer = Trainer(tiny_config("progan", "conditional=true", steps=1), data=tiny_images(resolution=16))
    trainer.hooks = [h for h in trainer.hooks if h.name != "growth"]  # keep the lod set here
    for net in (trainer.G, trainer.D, trainer.G_ema):
        net.lod.fill_(lod)
    top = 2 - math.floor(lod)
    trained = [*trainer.G.blocks[top].parameters(), *trainer.D.from_rgb[top].parameters()]
    before = [p.detach().clone() for p in trained]
    trainer.train()
    record = next(h for h in trainer.hooks if h.name == "log").last_record
    assert {"loss/D", "loss/G", "reg/gp", "reg/drift"} <= set(record)
    assert all(math.isfinite(v) for v in record.values())
    assert all(not torch.equal(a, b) for a, b in zip(before, trained))


def test_projection_discriminator_uses_the_label():
    _, D = _pair(8)
    x = torch.randn(8, 1, 8, 8)
    c = torch.eye(10)[:8]
    with torch.no_grad():
        assert not torch.allclose(D(x, c), D(x, c.roll(1, dims=1)))
        D.head.project.weight.zero_()
        assert torch.equal(D(x, c), D(x, c.roll(1, dims=1)))


def test_paper_channels_and_gains():
    """Table 2 channels at 4..1024 and REFERENCE §1's gains (√2, √2/4 first dense, 1 ToRGB / last dense)."""
    assert [channels(r - 1, 8192, 512) for r in range(2, 11)] == [512, 512, 512, 512, 256, 128, 64, 32, 16]
    cfg = load_config("progan-paper")
    assert (cfg.growth.stage_kimg, cfg.growth.fade_kimg, cfg.loss, cfg.reg.gp.weight, cfg.reg.drift.weight) == (
        800, 800, "wasserstein", 10.0, 0.001)
    assert cfg.growth.batch_sizes[256] == 14 and cfg.growth.batch_sizes[1024] == 3
    G = ProGANGenerator(ProGANGOptions(img_resolution=32))
    D = ProGANDiscriminator(ProGANDOptions(img_resolution=32))
    assert G.dense.weight_gain == pytest.approx(math.sqrt(2) / 4 / math.sqrt(512))
    assert G.to_rgb[-1].weight_gain == pytest.approx(1 / math.sqrt(512))
    assert G.blocks[1].convs[0].weight_gain == pytest.approx(math.sqrt(2) / math.sqrt(512 * 9))
    assert D.head.out.weight_gain == pytest.approx(1 / math.sqrt(512)) and D.head.dense.out_features == 512
    assert [b.conv1.out_channels for b in D.blocks] == [512, 512, 512]
    with pytest.raises(GankitError, match="power-of-two"):
        num_levels(24)


def test_preset_builds_at_32():
    cfg = load_config("progan")
    resolve_model_options(cfg, tiny_images(n=4, resolution=32))
    G, D = build_models(cfg)
    assert G.levels == 4 and G(torch.randn(2, G.z_dim)).shape == (2, 1, 32, 32)
    assert [m.convs[-1].out_channels for m in G.blocks] == [64, 64, 32, 16]


def test_minibatch_stddev_never_mixes_reals_and_fakes(images8):
    """D has batch statistics, so the trainer scores reals, fakes and GP interpolates in separate passes."""
    trainer = Trainer(tiny_config("progan", steps=1), data=images8)
    batches = []
    trainer.D.register_forward_hook(lambda module, args, out: batches.append(len(args[0])))
    trainer.train()
    assert batches == [8, 8, 8, 8]  # reals, fakes, interpolates (D step); fakes (G step)
