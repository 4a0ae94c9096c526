"""benchmarks/throughput.py's machinery: FLOP counting, the preset list, anchored rows. No timing asserted."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
throughput = pytest.importorskip("throughput")

FMNIST = Path("/usr/share/datasets/fashion-mnist")


def test_flop_count_matches_torch_and_survives_a_gradient_penalty():
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Flatten(), nn.Linear(4 * 8 * 8, 1))
    x = torch.randn(5, 1, 8, 8, requires_grad=True)

    def step() -> None:
        out = net(x).sum()
        grad, = torch.autograd.grad(out, x, create_graph=True)  # as WGAN-GP's penalty does
        (out + grad.square().sum()).backward()

    def plain() -> None:
        net(x).sum().backward()

    with FlopCounterMode(display=False) as reference:
        plain()
    with throughput.FlopCount() as ours:
        plain()
    assert ours.total == reference.get_total_flops() > 0
    with throughput.FlopCount() as penalised:
        step()
    assert penalised.total > ours.total  # the double backward's products are counted too


def test_cpu_presets_are_every_preset_but_the_paper_sized_ones():
    presets = throughput.cpu_presets()
    assert presets[:4] == list(throughput.SAME_MATHS)
    assert "stylegan3-r" in presets and "toy-gan" in presets
    assert not [p for p in presets if p.endswith("-paper")]
    assert len(presets) == len(set(presets))


@pytest.mark.skipif(not (FMNIST / "train-images-idx3-ubyte.gz").is_file(), reason="Fashion-MNIST not installed")
def test_an_anchored_preset_keeps_its_batch_and_progan_steps_with_its_growth_started():
    fmnist = throughput.load_dataset("fashion-mnist", root=str(FMNIST), download=False)
    data = throughput.preset_data("progan", fmnist)
    assert data.resolution == 32  # its own 32-px copy, not the 28-px one passed in
    run = throughput.gankit_window("progan", 0.01, data, "cpu", [])
    assert run["batch_size"] == 16 and run["steps"] >= 1 and run["images"] == 16 * run["steps"]
    assert throughput.step_flops("wgan-gp", fmnist, "cpu", []) > 0  # gradient penalty included
