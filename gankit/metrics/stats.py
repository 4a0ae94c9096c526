"""Streaming feature statistics: float64 mean and covariance, mergeable across shards.

Keeps the running count, mean and centred sum of squares M2 = Σ (x − mean)(x − mean)ᵀ and
combines batches or shards with Chan et al.'s pairwise update, which avoids the cancellation of
raw second moments when the mean is large against the spread. Optionally keeps the first
`max_items` raw features (float32, as extractors produce them) for KID and precision/recall.
"""
from __future__ import annotations

import math
from typing import Optional, Union

import numpy as np
import torch

from gankit.errors import GankitError

ArrayLike = Union[np.ndarray, torch.Tensor]


def as_float64(x: ArrayLike) -> torch.Tensor:
    """`x` as a float64 CPU tensor (the dtype every metric computes in)."""
    return torch.as_tensor(x).detach().to(device="cpu", dtype=torch.float64)


def first_non_finite(x: torch.Tensor) -> Optional[int]:
    """Index of the first row of `x` [N, ...] holding NaN or Inf, or None when all are finite."""
    bad = ~torch.isfinite(x.reshape(len(x), -1)).all(dim=1)  # [N]
    return int(bad.nonzero()[0, 0]) if bool(bad.any()) else None


def check_finite(x: torch.Tensor, what: str) -> None:
    """Raise one GankitError when a row of `x` [N, ...] holds NaN or Inf (metrics would be silently wrong)."""
    row = first_non_finite(x)
    if row is not None:
        raise GankitError(f"{what} hold NaN or Inf (row {row}); no metric can be computed from them")


class FeatureStats:
    """Running mean/covariance of [N, dim] feature batches, plus up to `max_items` raw rows."""

    def __init__(self, dim: int, max_items: int = 0) -> None:
        self.dim = dim
        self.max_items = max_items
        self._count = 0
        self._mean = torch.zeros(dim, dtype=torch.float64)  # [D]
        self._m2 = torch.zeros(dim, dim, dtype=torch.float64)  # [D, D]
        self._features: list[torch.Tensor] = []  # each [n, D] float32
        self._kept = 0

    def _combine(self, count: int, mean: torch.Tensor, m2: torch.Tensor) -> None:
        """Fold in another set's count, mean [D] and centred M2 [D, D] (Chan et al. 1979)."""
        total = self._count + count
        delta = mean - self._mean  # [D]
        self._m2 += m2 + torch.outer(delta, delta) * (self._count * count / total)
        self._mean += delta * (count / total)
        self._count = total

    def _keep(self, features: torch.Tensor) -> None:
        """Keep raw rows of `features` [n, D] until `max_items` are held."""
        room = self.max_items - self._kept
        if room > 0 and len(features):
            rows = features[:room].to(device="cpu", dtype=torch.float32).clone()  # [<=room, D]
            self._features.append(rows)
            self._kept += len(rows)

    def update(self, features: ArrayLike) -> None:
        """Add a batch `features` [N, dim]."""
        x = torch.as_tensor(features).detach()
        if x.ndim < 2 or math.prod(x.shape[1:]) != self.dim:
            raise ValueError(f"expected features [N, {self.dim}], got {tuple(x.shape)}")
        if len(x) == 0:
            return
        x = x.flatten(1)  # [N, D]
        self._keep(x)
        x64 = as_float64(x)
        mean = x64.mean(dim=0)  # [D]
        xc = x64 - mean  # [N, D]
        self._combine(len(x64), mean, xc.T @ xc)

    def merge(self, other: "FeatureStats") -> None:
        """Fold in another shard's statistics (and its raw rows, up to `max_items`)."""
        if other.dim != self.dim:
            raise ValueError(f"cannot merge stats of dim {other.dim} into dim {self.dim}")
        if other._count:
            self._combine(other._count, other._mean, other._m2)
        for rows in other._features:
            self._keep(rows)

    @property
    def count(self) -> int:
        """Number of feature rows seen."""
        return self._count

    @property
    def mean(self) -> torch.Tensor:
        """Mean [D], float64."""
        return self._mean.clone()

    @property
    def cov(self) -> torch.Tensor:
        """Unbiased (N − 1) covariance [D, D], float64."""
        if self._count < 2:
            raise ValueError(f"need at least 2 samples for a covariance, got {self._count}")
        return self._m2 / (self._count - 1)

    @property
    def features(self) -> torch.Tensor:
        """The kept raw features [min(count, max_items), D], float32."""
        if not self._features:
            return torch.zeros(0, self.dim)
        return torch.cat(self._features)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Tensors only (loadable with `torch.load(weights_only=True)` or safetensors)."""
        return {
            "count": torch.tensor(self._count, dtype=torch.int64),
            "max_items": torch.tensor(self.max_items, dtype=torch.int64),
            "mean": self._mean.clone(),
            "m2": self._m2.clone(),
            "features": self.features,
        }

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Restore from `state_dict()`; the feature dimension must match."""
        mean = state["mean"].to(torch.float64)
        if mean.shape != (self.dim,):
            raise ValueError(f"state has dim {tuple(mean.shape)}, expected ({self.dim},)")
        self._count = int(state["count"])
        self.max_items = int(state["max_items"])
        self._mean = mean.clone()
        self._m2 = state["m2"].to(torch.float64).clone()
        features = state["features"].to(torch.float32)
        self._features = [features.clone()] if len(features) else []
        self._kept = len(features)
