"""Stacked Fashion-MNIST: the 1,000-mode test of VEEGAN/PacGAN/R3GAN's Stacked MNIST, on Fashion-MNIST.

Each image stacks three Fashion-MNIST images, drawn at random with a fixed seed, as its three
channels; its label is the mode 100·a + 10·b + c of the three classes (10³ = 1,000 modes).
"""
from __future__ import annotations

import torch

from gankit.data.base import ImageDataset
from gankit.errors import GankitError
from gankit.registry import DATASETS

STACK_SEED = 1000  # which triples are stacked: fixed, so every run sees the same dataset


def stack_channels(images: torch.Tensor, labels: torch.Tensor, n: int, seed: int = STACK_SEED) -> tuple[torch.Tensor, torch.Tensor]:
    """n stacks of three random grey images [N, 1, H, W] -> ([n, 3, H, W], modes int64 [n] in 0..999)."""
    picks = torch.randint(len(images), (n, 3), generator=torch.Generator().manual_seed(seed))  # [n, 3]
    stacked = images[picks.flatten(), 0].view(n, 3, *images.shape[-2:])  # [n, 3, H, W]
    classes = labels[picks]  # [n, 3]
    return stacked, classes[:, 0] * 100 + classes[:, 1] * 10 + classes[:, 2]


@DATASETS.register("stacked-fmnist")
def stacked_fashion_mnist(resolution: int | None = None, channels: int | None = None, split: str = "train",
                          root: str | None = None, download: bool = True) -> ImageDataset:
    """As many stacks as the split has images (60,000 for train), 3 channels, 1,000 modes as labels."""
    if channels not in (None, 3):
        raise GankitError("stacked-fmnist has 3 channels (one Fashion-MNIST image each); drop channels= or set it to 3")
    base = DATASETS.get("fashion-mnist")(resolution=resolution, channels=1, split=split, root=root, download=download)
    images, modes = stack_channels(base.images, base.labels, len(base))
    return ImageDataset("stacked-fmnist", images, modes, 1000)
