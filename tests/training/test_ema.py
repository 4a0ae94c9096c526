import pytest
import torch
from torch import nn

from gankit.training.ema import ema_beta, make_ema, update_ema


def test_beta_from_half_life_in_images():
    assert ema_beta(32, 10.0, 10**9, None) == pytest.approx(0.5 ** (32 / 10000))
    # 10 kimg half-life: after 10k images at batch 32 the old weights keep half their weight
    assert ema_beta(32, 10.0, 10**9, None) ** (10000 / 32) == pytest.approx(0.5)
    # StyleGAN2 ramp-up: the half-life is at most cur_nimg * rampup
    assert ema_beta(32, 10.0, 1000, 0.05) == pytest.approx(0.5 ** (32 / 50))


def test_update_lerps_parameters_and_copies_buffers():
    G = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    G_ema = make_ema(G)
    assert not G_ema.training and not any(p.requires_grad for p in G_ema.parameters())
    old = [p.clone() for p in G_ema.parameters()]
    with torch.no_grad():
        for p in G.parameters():
            p.add_(1.0)
        G[1].running_mean.fill_(3.0)
    update_ema(G_ema, G, beta=0.75)
    for p_ema, p_old, p in zip(G_ema.parameters(), old, G.parameters()):
        assert torch.allclose(p_ema, 0.75 * p_old + 0.25 * p)
    assert torch.equal(G_ema[1].running_mean, torch.full((2,), 3.0))


@pytest.mark.parametrize("n_critic", [1, 3])
def test_half_life_and_ramp_up_share_the_image_clock(monkeypatch, n_critic):
    """In ramp-up, beta after k steps is 0.5 ** (1 / (k * rampup)) whatever n_critic: both the step's images
    and the ramp-up's cur_nimg count images shown to D (n_critic x batch per step)."""
    from gankit.training import Trainer, hooks
    from tests.conftest import tiny_config, tiny_images

    betas = []
    monkeypatch.setattr(hooks, "update_ema", lambda G_ema, G, beta: betas.append(beta))
    cfg = tiny_config("dcgan", f"n_critic={n_critic}", "reuse_fakes=false", "ema.kimg=100", "ema.rampup=0.5", steps=3)
    Trainer(cfg, data=tiny_images()).train()
    assert betas == pytest.approx([0.5 ** (1 / (k * 0.5)) for k in (1, 2, 3)])
