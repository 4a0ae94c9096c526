"""gankit.load: each network of a run (G_ema, G, D) in eval mode, and a clear error for a wrong name."""
import pytest
import torch

import gankit
from gankit.errors import GankitError
from gankit.training import Trainer
from tests.conftest import tiny_config, tiny_images


def test_load_returns_each_network_with_its_trained_weights(tmp_path):
    cfg = tiny_config("cdcgan", "ema.kimg=0.01", steps=2)
    trainer = Trainer(cfg, tmp_path / "run", data=tiny_images()).train()
    for which, trained in [("G_ema", trainer.G_ema), ("G", trainer.G), ("D", trainer.D)]:
        network = gankit.load(tmp_path / "run", which=which)
        assert not network.training and not any(p.requires_grad for p in network.parameters())
        for key, value in trained.state_dict().items():
            assert torch.equal(network.state_dict()[key], value), (which, key)
    x = torch.zeros(2, 1, 8, 8)
    c = torch.nn.functional.one_hot(torch.tensor([1, 2]), 10).float()
    assert gankit.load(tmp_path / "run", which="D")(x, c).shape == (2,)


def test_load_names_the_valid_networks(tmp_path):
    with pytest.raises(GankitError, match="valid: G_ema, G, D"):
        gankit.load(tmp_path, which="generator")
