"""R3GAN: the paper's sizes, initialisation, resampling, conditioning and the relativistic training loop."""
import math

import pytest
import torch

from gankit.config import load_config
from gankit.errors import GankitError
from gankit.models import build_models
from gankit.models.r3gan import R3GANDiscriminator, R3GANDOptions, R3GANGenerator, R3GANGOptions, Resample
from gankit.training import Trainer
from tests.conftest import tiny_config, tiny_images


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# Parameter counts of the authors' networks built with the same configuration (brownvc/R3GAN,
# R3GAN/Networks.py with train.py's presets), counted on 2026-12-06; tests/models/test_r3gan_parity.py
# checks layer by layer against their code when R3GAN_SRC is set.
@pytest.mark.parametrize("preset, G_params, D_params", [("r3gan-cifar10-paper", 20_781_952, 21_280_512),
                                                        ("r3gan-ffhq64-paper", 22_429_824, 22_381_440)])
def test_paper_presets_have_the_authors_parameter_counts(preset, G_params, D_params):
    cfg = load_config(preset)
    cfg.G = {**cfg.G, "img_resolution": cfg.resolution, "img_channels": 3, "c_dim": 10 if cfg.conditional else 0}
    cfg.D = {**cfg.D, "img_resolution": cfg.resolution, "img_channels": 3, "c_dim": 10 if cfg.conditional else 0}
    with torch.device("meta"):
        G, D = build_models(cfg)
    assert (_count(G), _count(D)) == (G_params, D_params)


def _tiny(c_dim: int = 0, resolution: int = 16) -> tuple[R3GANGenerator, R3GANDiscriminator]:
    shared = dict(widths=[32, 32, 16], group_channels=8, c_dim=c_dim, img_resolution=resolution, img_channels=3)
    return R3GANGenerator(R3GANGOptions(z_dim=16, **shared)), R3GANDiscriminator(R3GANDOptions(**shared))


def test_every_residual_block_starts_as_the_identity_with_variance_scaled_convs():
    torch.manual_seed(0)
    G, D = _tiny()
    blocks = [m for m in list(G.modules()) + list(D.modules()) if type(m).__name__ == "ResidualBlock"]
    assert len(blocks) == 12  # 2 per stage, 3 stages, both networks
    x = torch.randn(2, 32, 8, 8)
    assert torch.equal(blocks[0](x), x)
    big = R3GANGenerator(R3GANGOptions(z_dim=16, widths=[256, 256], group_channels=16, img_resolution=8, img_channels=1))
    conv1 = big.stages[0][0].conv1.weight  # [512, 256, 1, 1]; L = 4 blocks
    expected = math.sqrt(2 / (1 + 0.2 ** 2)) * 4 ** (-1 / 4) / math.sqrt(256)
    assert conv1.std().item() == pytest.approx(expected, rel=0.02)
    assert big.stages[0][0].conv2.groups == 512 // 16


def test_resampling_keeps_constants_and_doubles_or_halves_the_size():
    up, down = Resample(3, 3, [1, 2, 1], up=True), Resample(3, 3, [1, 2, 1], up=False)
    x = torch.full((1, 3, 8, 8), 2.0)
    y = up(x)
    assert y.shape == (1, 3, 16, 16) and torch.allclose(y[..., 2:-2, 2:-2], x[..., :12, :12].new_full((1, 3, 12, 12), 2.0))
    z = down(x)
    assert z.shape == (1, 3, 4, 4) and torch.allclose(z[..., 1:-1, 1:-1], torch.full((1, 3, 2, 2), 2.0))
    assert Resample(3, 5, [1, 2, 1], up=True)(x).shape == (1, 5, 16, 16)


def test_conditional_networks_use_the_label():
    torch.manual_seed(0)
    G, D = _tiny(c_dim=4)
    z = torch.randn(2, 16)
    c0, c1 = torch.eye(4)[[0, 0]], torch.eye(4)[[1, 1]]
    assert not torch.allclose(G(z, c0), G(z, c1))
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():  # D's class embedding starts at N(0, 1/(c_dim·embed)): a real projection from the start
        assert not torch.allclose(D(x, c0), D(x, c1))
    with pytest.raises(GankitError, match="conditional"):
        G(z)
    with pytest.raises(GankitError, match="conditional"):
        D(x)


@pytest.mark.parametrize("override, message", [("resolution=24", "power-of-two"), ("G.widths=[8,8]", "need 3 entries"),
                                               ("G.group_channels=7", "multiple of group_channels")])
def test_bad_sizes_are_one_line_errors(override, message):
    cfg = tiny_config("r3gan", override, "G.widths=[16,16,16]", "D.widths=[16,16,16]")
    data = tiny_images(resolution=24 if override.startswith("resolution") else 16)
    if override == "G.widths=[8,8]":
        cfg = tiny_config("r3gan", "D.widths=[16,16,16]", override)
    with pytest.raises(GankitError, match=message):
        Trainer(cfg, data=data)


def test_relativistic_g_step_pairs_fresh_reals_and_conditional_fakes_take_their_labels():
    cfg = tiny_config("r3gan", "conditional=true", steps=1)
    trainer = Trainer(cfg, data=tiny_images(resolution=8))
    seen = []

    def record(module, args):
        seen.append(args[1].argmax(1).tolist() if args[1] is not None else None)

    trainer.G.register_forward_pre_hook(record)
    fed = []
    next_batch = trainer.feeder.next
    trainer.feeder.next = lambda n: fed.append(next_batch(n)) or fed[-1]
    trainer.train()
    assert len(fed) == 2  # one real batch for the D step, a fresh one for the G step
    for (_, labels), fake_labels in zip(fed, seen):  # D phase, then G phase
        assert fake_labels == labels.tolist()


def test_relativistic_loss_refuses_reused_fakes():
    with pytest.raises(GankitError, match="reuse_fakes"):
        Trainer(tiny_config("r3gan", "reuse_fakes=true"), data=tiny_images(resolution=8))
