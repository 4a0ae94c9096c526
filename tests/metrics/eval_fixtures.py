"""Shared helpers for the evaluation tests: a tiny idx dataset with train/test splits, hand-built generators."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from gankit.models.base import Generator
from tests.data.test_idx import write_idx
from tests.metrics import tiny_extractor  # noqa: F401  (registers "test-tiny")


def make_idx_data(directory: Path, n_train: int = 120, n_test: int = 60, seed: int = 0) -> Path:
    """An 8x8 idx dataset (train and t10k splits) whose mean brightness in [-1, 1] is about label/5 - 0.9."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        level = np.round(12.75 + 25.5 * labels.astype(np.float64))[:, None, None]  # class k: mean k/5 - 0.9 in [-1, 1]
        images = np.clip(level + rng.integers(-5, 6, (n, 8, 8)), 0, 255).astype(np.uint8)
        write_idx(directory / f"{prefix}-images-idx3-ubyte", images)
        write_idx(directory / f"{prefix}-labels-idx1-ubyte", labels)
    return directory


class ClassBrightnessG(Generator):
    """8x8 images whose brightness encodes the class (optionally permuted), plus a little z noise."""

    def __init__(self, c_dim: int = 10, permutation: list[int] | None = None) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.img_resolution, self.img_channels = 4, c_dim, 8, 1
        self.scale = nn.Parameter(torch.tensor(0.01))
        self.register_buffer("levels", torch.tensor(permutation or list(range(max(c_dim, 1))), dtype=torch.float32))

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        k = c.argmax(1).float() if c is not None else torch.zeros(len(z))
        level = self.levels[k.long()] / 5 - 0.9  # [N]
        return (level[:, None, None, None] + self.scale * z[:, :1, None, None]).expand(-1, 1, 8, 8)


class PointsG(Generator):
    """Vector G: z -> the toy mode z picks (nearest of `means` to a random choice) plus tiny noise."""

    def __init__(self, means: torch.Tensor, use: int | None = None) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.data_dim = 2, 0, means.shape[1]
        self.register_buffer("means", means.float())
        self.use = use or len(means)
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        index = (z[:, 0].abs() * 1000).long() % self.use  # [N]
        return self.means[index] + 1e-4 * z
