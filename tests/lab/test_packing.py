"""PacGAN packing (D.pack) on any D, and the lab's metric on constructed samples."""
import math

import torch

from gankit.config import load_config
from gankit.data import load_dataset
from gankit.lab.mode_collapse import evaluate
from gankit.models import build_models
from gankit.models.base import PackedDiscriminator
from gankit.training.trainer import Trainer


def test_packed_d_scores_m_consecutive_samples_together():
    cfg = load_config("toy-gan", ["D.pack=3"])
    cfg.G, cfg.D = {**cfg.G, "data_dim": 2}, {**cfg.D, "data_dim": 2}
    _, D = build_models(cfg)
    assert isinstance(D, PackedDiscriminator) and D.inner.net[0].in_features == 6
    x = torch.randn(12, 2)
    logits = D(x)  # [4]
    assert logits.shape == (4,)
    torch.testing.assert_close(logits, D.inner(x.reshape(4, 6)))
    # the trainer's one-pass scoring of [reals; fakes] splits packed logits at the right place
    t = Trainer(load_config("toy-gan", ["D.pack=2", "batch_size=8", "steps=2", "log.progress=false", "eval.kimg=0"]))
    reals, fakes = torch.randn(8, 2), torch.randn(8, 2)
    real_logits, fake_logits = t._score(reals, None, fakes, None)
    torch.testing.assert_close(real_logits, t.D(reals))
    torch.testing.assert_close(fake_logits, t.D(fakes))
    t.train()


def test_images_pack_along_channels():
    cfg = load_config("dcgan", ["D.pack=2", "D.base_channels=4", "G.base_channels=4"])
    cfg.G, cfg.D = {**cfg.G, "img_resolution": 28, "img_channels": 1}, {**cfg.D, "img_resolution": 28, "img_channels": 1}
    _, D = build_models(cfg)
    assert D(torch.randn(6, 1, 28, 28)).shape == (3,)


def test_metric_on_constructed_samples():
    grid = load_dataset("grid")
    collapsed = evaluate(grid.means[7].expand(2500, 2).float(), grid)
    assert collapsed["modes_covered"] == 1 and abs(collapsed["reverse_kl"] - math.log(25)) < 1e-12
    copies = evaluate(grid.means.repeat(100, 1).float(), grid)
    assert copies["modes_covered"] == 25 and copies["high_quality"] == 1.0 and abs(copies["reverse_kl"]) < 1e-12
    assert copies["mass_per_mode"] == [0.04] * 25
