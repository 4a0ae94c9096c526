"""gankit's R3GAN against the authors' networks (github.com/brownvc/R3GAN), when a checkout is given.

Set R3GAN_SRC to a checkout of the authors' repository (its `R3GAN/` package and `torch_utils/`; their
`dnnlib` needs `requests` importable). Their networks are built with the same sizes, their weights
copied into gankit's in registration order, and both outputs compared: same parameter count, same
images and logits to float rounding. Runs in `make test-all` only.
"""
import os
import sys

import pytest
import torch

from gankit.models.r3gan import R3GANDiscriminator, R3GANDOptions, R3GANGenerator, R3GANGOptions

SRC = os.environ.get("R3GAN_SRC")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not SRC, reason="set R3GAN_SRC to a checkout of brownvc/R3GAN")]


def _their_networks():
    sys.path.insert(0, SRC)
    try:
        from R3GAN import Networks
    finally:
        sys.path.remove(SRC)
    return Networks


def _copy_parameters(theirs: torch.nn.Module, ours: torch.nn.Module, embed_last: bool) -> None:
    """Their parameters into ours in registration order (their G registers its class embedding last)."""
    ours_list = list(ours.named_parameters())
    if embed_last:
        ours_list = [p for p in ours_list if not p[0].startswith("embed.")] + [p for p in ours_list if p[0].startswith("embed.")]
    theirs_list = list(theirs.parameters())
    assert len(theirs_list) == len(ours_list)
    with torch.no_grad():
        for t, (name, o) in zip(theirs_list, ours_list):
            assert t.shape == o.shape, name
            o.copy_(t)


@pytest.mark.parametrize("c_dim, widths, group_channels", [(0, [96, 96, 48, 48], 16), (10, [64, 64, 64], 16)])
def test_r3gan_matches_the_authors_networks(c_dim, widths, group_channels):
    Networks = _their_networks()
    resolution = 4 * 2 ** (len(widths) - 1)
    cardinality = [w * 2 // group_channels for w in widths]
    cond = {"ConditionDimension": c_dim, "ConditionEmbeddingDimension": 64} if c_dim else {}
    torch.manual_seed(0)
    their_G = Networks.Generator(64, widths, cardinality, [2] * len(widths), 2, **cond)
    cond_D = {"ConditionDimension": c_dim, "ConditionEmbeddingDimension": widths[0]} if c_dim else {}
    their_D = Networks.Discriminator(widths[::-1], cardinality[::-1], [2] * len(widths), 2, **cond_D)
    shared = dict(widths=widths, group_channels=group_channels, c_dim=c_dim, img_resolution=resolution, img_channels=3)
    G, D = R3GANGenerator(R3GANGOptions(z_dim=64, **shared)), R3GANDiscriminator(R3GANDOptions(**shared))
    assert sum(p.numel() for p in G.parameters()) == sum(p.numel() for p in their_G.parameters())
    assert sum(p.numel() for p in D.parameters()) == sum(p.numel() for p in their_D.parameters())
    # their last convs start at zero: give every parameter a random value so each layer is exercised
    with torch.no_grad():
        for p in list(their_G.parameters()) + list(their_D.parameters()):
            p.normal_(0, 0.05)
    _copy_parameters(their_G, G, embed_last=True)
    _copy_parameters(their_D, D, embed_last=False)
    z = torch.randn(4, 64)
    c = torch.nn.functional.one_hot(torch.arange(4) % max(c_dim, 1), max(c_dim, 1)).float() if c_dim else None
    G.train()  # gankit clamps images to [-1, 1] in eval mode only; the authors' G never clamps
    with torch.no_grad():
        images, their_images = G(z, c), their_G(z, c)
        assert images.shape == (4, 3, resolution, resolution)
        torch.testing.assert_close(images, their_images, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(D(images, c), their_D(images, c), rtol=1e-5, atol=1e-5)
