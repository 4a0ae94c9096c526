"""The ensemble wrapper: member k trains exactly as a single-seed run on the same init and draws."""

import pytest
import torch

from gankit.config import load_config
from gankit.models.ensemble import ensemble_config
from gankit.training.trainer import Trainer
from tests.lab.ensemble_twins import ensemble_and_twin

TINY = {
    "model": "mlp", "data": "grid", "loss": "nonsaturating", "batch_size": 16, "steps": 10, "seed": 3,
    "G": {"z_dim": 2, "widths": [24, 24], "norm": "none", "slope": 0.0, "output": "linear"},
    "D": {"widths": [16, 16], "maxout": 3, "pack": 2},
    "optim": {"G": {"lr": 1e-3}, "D": {"lr": 1e-3}},
    "log": {"progress": False},
}


@pytest.mark.parametrize("k", [1])
def test_member_equals_single_seed_run(k):
    ens, single = ensemble_and_twin(TINY, 3, k)
    ens.train()
    single.train()
    for trained, reference in ((ens.G.member(k), single.G), (ens.D.member(k), single.D)):
        ref = reference.state_dict()
        for name, value in trained.state_dict().items():
            torch.testing.assert_close(value, ref[name], rtol=0, atol=1e-5)
    # and the members really differ from one another
    assert not torch.allclose(ens.G.member(0).net[0].weight, ens.G.member(1).net[0].weight)


def test_member_samples_match_member_network():
    cfg = ensemble_config(load_config(TINY), 2)
    G = Trainer(cfg).G.eval()
    stacked = G.sample_members(50, seed=7)  # [E, 50, 2]
    for k in range(2):
        torch.testing.assert_close(stacked[k], G.member(k).eval().sample(50, seed=7), rtol=0, atol=1e-6)


def test_stacked_batchnorm_matches_batchnorm1d_per_member():
    from torch import nn

    from gankit.models.ensemble import StackedBatchNorm

    torch.manual_seed(0)
    norms = [nn.BatchNorm1d(5) for _ in range(3)]
    for bn in norms:
        nn.init.normal_(bn.weight), nn.init.normal_(bn.bias)
    stacked = StackedBatchNorm(norms)
    x = torch.randn(3, 7, 5)
    out = stacked(x)
    for k, bn in enumerate(norms):
        torch.testing.assert_close(out[k], bn(x[k]), rtol=0, atol=1e-6)
        torch.testing.assert_close(stacked.running_var[k, 0], bn.running_var, rtol=0, atol=1e-6)
    stacked.eval()
    for k, bn in enumerate(norms):
        torch.testing.assert_close(stacked(x)[k], bn.eval()(x[k]), rtol=0, atol=1e-6)
