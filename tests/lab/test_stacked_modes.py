"""The 1,000-mode lab's statistics: modes covered and the reverse KL to the uniform histogram."""
import math
from pathlib import Path

import pytest
import torch

from gankit.config import load_config
from gankit.data import load_dataset
from gankit.lab.stacked_modes import GAMMA, NETWORKS, ROWS, classify_stacks, mode_statistics, row_overrides, train_row
from gankit.metrics.features.fmnist_cnn import load_fmnist_cnn

FMNIST = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")


def test_stacked_modes_counts_and_kl():
    uniform = mode_statistics(torch.arange(1000).repeat(3))
    assert uniform["modes"] == 1000 and abs(uniform["reverse_kl"]) < 1e-9
    collapsed = mode_statistics(torch.full((50,), 7))
    assert collapsed["modes"] == 1 and collapsed["reverse_kl"] == pytest.approx(math.log(1000))


def test_reverse_kl_splits_into_channel_marginals_and_their_dependence():
    torch.manual_seed(0)
    skewed = torch.multinomial(torch.tensor([4.0, 1, 1, 1, 1, 1, 1, 1, 1, 1]), 200_000, replacement=True)
    a, b, c = skewed, torch.randint(0, 10, (200_000,)), torch.randint(0, 10, (200_000,))
    independent = mode_statistics(100 * a + 10 * b + c)  # the plug-in dependence is biased up by about 970 / (2 n)
    assert sum(independent["channel_kl"]) + independent["channel_dependence"] == pytest.approx(independent["reverse_kl"])
    assert independent["channel_kl"][0] > 0.1 and abs(independent["channel_dependence"]) < 0.01
    tied = mode_statistics(111 * torch.arange(10).repeat(5))  # every channel the same class: 10 modes
    assert tied["channel_kl"] == pytest.approx([0.0] * 3, abs=1e-12)
    assert tied["channel_dependence"] == pytest.approx(2 * math.log(10)) and tied["reverse_kl"] == pytest.approx(math.log(100))


def test_confident_share_is_reported_only_when_given():
    modes = torch.tensor([1, 2, 3, 4])
    assert mode_statistics(modes)["confident"] is None
    assert mode_statistics(modes, torch.tensor([True, False, False, True]))["confident"] == 0.5


@pytest.mark.skipif(not FMNIST.is_file(), reason="Fashion-MNIST not installed (dataset-fashion-mnist)")
def test_real_stacks_are_classified_per_channel_and_mostly_with_confidence():
    data = load_dataset("stacked-fmnist", resolution=32)
    images, true_modes = data.get(torch.arange(300))  # [300, 3, 32, 32] in [-1, 1], [300]
    modes, confident = classify_stacks(load_fmnist_cnn(), images)
    assert (modes == true_modes).double().mean() > 0.7  # about 0.93³: three right classes
    assert 0.3 < confident.double().mean() < 1
    reversed_modes = modes % 10 * 100 + modes // 10 % 10 * 10 + modes // 100  # channels in reverse order: digits reversed
    assert torch.equal(classify_stacks(load_fmnist_cnn(), images.flip(1))[0], reversed_modes)


@pytest.mark.parametrize("network", sorted(NETWORKS))
def test_each_row_sets_its_loss_and_penalties_on_either_network(network):
    for name, row in ROWS.items():
        cfg = load_config(network, row_overrides(name, network))
        assert cfg.loss == row["loss"] and cfg.reg.r1.gamma == GAMMA
        assert cfg.reg.r2.gamma == (GAMMA if row["r2"] else 0)
        assert not (cfg.loss == "rpgan" and cfg.reuse_fakes)  # RpGAN pairs reals with the D step's own fakes


@pytest.mark.skipif(not FMNIST.is_file(), reason="Fashion-MNIST not installed (dataset-fashion-mnist)")
@pytest.mark.parametrize("network, tiny", [("dcgan", ["G.base_channels=8", "D.base_channels=8"]),
                                           ("r3gan", ["G.widths=[16,16,16,16]", "D.widths=[16,16,16,16]"])])
def test_a_row_trains_on_either_network_at_its_resolution(network, tiny):
    data = load_dataset("stacked-fmnist", resolution=NETWORKS[network])
    G, compute = train_row("RpGAN + R1 + R2", 2, [*tiny, "batch_size=8"], data, network=network)
    side = NETWORKS[network]
    assert G(torch.randn(4, G.z_dim)).shape == (4, 3, side, side) and compute["kimg"] == 0.016
