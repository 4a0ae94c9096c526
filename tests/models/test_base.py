"""Freeze-D: D's layer groups per family and `D.freeze_layers=N` leaving those layers untrained."""
from __future__ import annotations

import pytest
import torch

from gankit.errors import GankitError
from gankit.models.base import frozen_parameters
from gankit.training import Trainer
from tests.conftest import tiny_config, tiny_images

# (preset, layers of its tiny 8-px D): dcgan = one strided conv and the head; StyleGAN's D =
# blocks 8->4 (with fromRGB) and the epilogue; ProGAN's = the 8-px block (with its fromRGB) and the 4x4 head.
LAYERS = {"dcgan": 2, "stylegan": 2, "stylegan2": 2, "progan": 2}


@pytest.mark.parametrize("preset", list(LAYERS))
def test_layer_groups_cover_d_from_the_input_side(preset):
    trainer = Trainer(tiny_config(preset, steps=1), data=tiny_images(n=16, resolution=8, classes=0))
    groups = trainer.D.layer_groups()
    assert len(groups) == LAYERS[preset]
    flat = [id(p) for g in groups for p in g]
    assert len(flat) == len(set(flat)) and set(flat) == {id(p) for p in trainer.D.parameters()}
    first = trainer.D.features[0] if preset == "dcgan" else trainer.D.from_rgb
    first = first if preset != "progan" else first[-1]  # ProGAN: the top resolution's fromRGB
    assert {id(p) for p in first.parameters()} <= {id(p) for p in groups[0]}


@pytest.mark.parametrize("preset", ["dcgan", "stylegan2"])
def test_frozen_layers_do_not_change_and_the_rest_do(preset):
    data = tiny_images(n=32, resolution=8, classes=0)
    trainer = Trainer(tiny_config(preset, "D.freeze_layers=1", steps=3), data=data)
    frozen = {id(p) for p in frozen_parameters(trainer.D, 1)}
    before = {name: p.detach().clone() for name, p in trainer.D.named_parameters()}
    trainer.train()
    assert frozen
    for name, p in trainer.D.named_parameters():
        assert torch.equal(before[name], p.detach()) == (id(p) in frozen), name  # frozen <=> unchanged


def test_freezing_more_layers_than_d_has_is_a_one_line_error():
    with pytest.raises(GankitError, match="freeze_layers=9"):
        Trainer(tiny_config("dcgan", "D.freeze_layers=9"), data=tiny_images(n=16, resolution=8, classes=0))
