"""Toy Gaussian mixtures (GUIDE §6): the 8-mode ring, the 25-mode grid, the seed's 1-D bimodal, any mixture."""
from __future__ import annotations

import itertools
import json
import math
import os
from collections.abc import Callable, Sequence

import torch

from gankit.data.base import ToyDistribution
from gankit.errors import GankitError
from gankit.registry import DATASETS


def gaussian_mixture(
    means: torch.Tensor | Sequence, stds: torch.Tensor | Sequence | float,
    weights: torch.Tensor | Sequence | None = None, name: str = "mixture",
) -> ToyDistribution:
    """Isotropic Gaussian mixture: means [K, D] (or [K] for 1-D), stds scalar or [K], weights [K] or uniform."""
    mu = torch.as_tensor(means, dtype=torch.float64)
    mu = mu[:, None] if mu.ndim == 1 else mu  # [K, D]
    if mu.ndim != 2 or mu.shape[0] == 0:
        raise GankitError(f"means must be [K, D] (or [K] for 1-D data), got shape {tuple(mu.shape)}")
    k = mu.shape[0]
    sd = torch.as_tensor(stds, dtype=torch.float64)
    sd = sd.expand(k).clone() if sd.ndim == 0 else sd  # [K]
    w = torch.ones(k, dtype=torch.float64) if weights is None else torch.as_tensor(weights, dtype=torch.float64)
    if sd.shape != (k,) or not bool((sd > 0).all()):
        raise GankitError(f"stds must be one positive number or {k} of them, got {stds!r}")
    if w.shape != (k,) or not bool((w >= 0).all()) or float(w.sum()) <= 0:
        raise GankitError(f"weights must be {k} non-negative numbers, not all zero, got {weights!r}")
    return ToyDistribution(name, mu, sd, w / w.sum())


def save_mixture(mixture: ToyDistribution, path: str | os.PathLike) -> None:
    """Write a mixture as a JSON file `{"means": [[...]], "stds": [...], "weights": [...]}` (data=PATH reads it)."""
    spec = {"name": mixture.name, "means": mixture.means.tolist(), "stds": mixture.stds.tolist(),
            "weights": mixture.weights.tolist()}
    with open(path, "w") as f:
        json.dump(spec, f)


def load_mixture(path: str | os.PathLike) -> ToyDistribution:
    """A mixture from a JSON file with `means` [K][D], `stds` (one or K) and optional `weights` [K]."""
    try:
        with open(path) as f:
            spec = json.load(f)
    except (OSError, ValueError) as err:
        raise GankitError(f"cannot read mixture file {path}: {err}") from None
    if not isinstance(spec, dict) or "means" not in spec or "stds" not in spec:
        raise GankitError(f"mixture file {path} needs keys 'means' ([K][D]) and 'stds' (a number or K numbers)")
    try:
        return gaussian_mixture(spec["means"], spec["stds"], spec.get("weights"), name=spec.get("name", "mixture"))
    except (TypeError, ValueError, RuntimeError) as err:
        raise GankitError(f"mixture file {path}: {err}") from None


def ring() -> ToyDistribution:
    """8 Gaussians evenly on the unit circle, std 0.01."""
    angles = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
    return gaussian_mixture(torch.stack([angles.cos(), angles.sin()], dim=1), 0.01, name="ring")


def grid() -> ToyDistribution:
    """25 Gaussians at {-4, -2, 0, 2, 4}^2, std 0.05."""
    return gaussian_mixture(list(itertools.product([-4.0, -2.0, 0.0, 2.0, 4.0], repeat=2)), 0.05, name="grid")


def bimodal() -> ToyDistribution:
    """The seed's 1-D mixture 0.5 N(2, 1) + 0.5 N(8, 1)."""
    return gaussian_mixture([2.0, 8.0], 1.0, [0.5, 0.5], name="bimodal")


def _builder(make: Callable[[], ToyDistribution]) -> Callable[..., ToyDistribution]:
    def build(
        *, resolution: int | None = None, channels: int | None = None, split: str = "train",
        root: str | None = None, download: bool = True,
    ) -> ToyDistribution:
        return make()  # image options do not apply; every split is a fresh draw from the same mixture

    build.__doc__ = make.__doc__
    return build


DATASETS.register("ring")(_builder(ring))
DATASETS.register("grid")(_builder(grid))
DATASETS.register("bimodal")(_builder(bimodal))
