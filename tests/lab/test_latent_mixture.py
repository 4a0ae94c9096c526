"""G.latent_mixture (DeLiGAN's latent): a uniform, deterministic component per z; ensembles and checkpoints keep it."""

import pytest
import torch

import gankit
from gankit.config import load_config
from gankit.errors import GankitError
from gankit.models.ensemble import ensemble_config
from gankit.models.mlp import LatentMixture
from gankit.training.trainer import Trainer
from tests.lab.ensemble_twins import ensemble_and_twin

TINY = {
    "model": "mlp", "data": "grid", "loss": "nonsaturating", "batch_size": 16, "steps": 6, "seed": 5,
    "G": {"z_dim": 3, "widths": [24, 24], "norm": "none", "output": "linear", "latent_mixture": 7},
    "D": {"widths": [16, 16]},
    "optim": {"G": {"lr": 1e-2}, "D": {"lr": 1e-2}},
    "log": {"progress": False},
}


def test_component_is_the_normal_quantile_bin_of_z0_and_uniform():
    K = 7
    mixture = LatentMixture(K, 3)
    # z0 at the centre and just inside both edges of bin k picks k: floor(Phi(z0) * K)
    normal = torch.distributions.Normal(0.0, 1.0)
    for offset in (0.5, 1e-3, 1 - 1e-3):
        u = (torch.arange(K, dtype=torch.float64) + offset) / K
        z = torch.zeros(K, 3, dtype=torch.float64)
        z[:, 0] = normal.icdf(u)
        assert torch.equal(mixture.component(z), torch.arange(K))
    z = torch.randn(70_000, 3, generator=torch.Generator().manual_seed(0))
    counts = torch.bincount(mixture.component(z), minlength=K).double()
    chi2 = float(((counts - 10_000) ** 2 / 10_000).sum())
    assert chi2 < 22.5  # 6 degrees of freedom: p ~ 0.001
    assert torch.equal(mixture.component(z), mixture.component(z.clone()))


def test_latent_is_the_chosen_components_affine_map():
    mixture = LatentMixture(5, 4)
    z = torch.randn(2, 30, 4)  # leading axes broadcast
    out = mixture(z)  # [2, 30, 3]
    k = mixture.component(z)
    expected = mixture.mu[k] + mixture.log_sigma[k].exp() * z[..., 1:]
    torch.testing.assert_close(out, expected, rtol=0, atol=0)
    out.sum().backward()
    used = torch.zeros(5, dtype=torch.bool)
    used[k.unique()] = True
    assert (mixture.mu.grad[used] != 0).all() and (mixture.mu.grad[~used] == 0).all()
    with pytest.raises(GankitError, match="z_dim >= 2"):
        LatentMixture(4, 1)


@pytest.mark.parametrize("members,k", [(1, 0), (2, 1)])
def test_ensemble_member_equals_single_run_with_mixture(members, k):
    ens, single = ensemble_and_twin(TINY, members, k)
    initial_mu = single.G.state_dict()["net.0.mu"].clone()
    ens.train()
    single.train()
    trained, reference = ens.G.member(k).state_dict(), single.G.state_dict()
    assert {"net.0.mu", "net.0.log_sigma"} <= set(reference)
    assert not torch.equal(reference["net.0.mu"], initial_mu)  # the means learn
    for name, value in trained.items():
        torch.testing.assert_close(value, reference[name], rtol=0, atol=1e-5)
    torch.testing.assert_close(ens.G.eval().sample_members(40, seed=3)[k], single.G.eval().sample(40, seed=3),
                               rtol=0, atol=1e-5)


def test_checkpoint_and_load_round_trip(tmp_path):
    trainer = Trainer(load_config(TINY, ["ema.kimg=0.1"]), tmp_path / "run").train()
    G = gankit.load(tmp_path / "run")
    assert G.net[0].components == 7 and not G.training
    expected = trainer.G_ema.eval().sample(50, seed=11)
    assert torch.equal(G.sample(50, seed=11), expected)
    ens_cfg = ensemble_config(load_config(TINY), 2)
    ens = Trainer(ens_cfg, tmp_path / "ens").train()
    G_ens = gankit.load(tmp_path / "ens")
    assert torch.equal(G_ens.sample_members(20, seed=2), ens.G.eval().sample_members(20, seed=2))
    saved = G_ens.state_dict()
    for name, value in ens.G.state_dict().items():  # the stacked means and log-stds included
        assert torch.equal(saved[name], value), name
