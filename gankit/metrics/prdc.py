"""Precision/recall (Kynkäänniemi et al. 2019) and density/coverage (Naeem et al. 2020); GUIDE §7.

The manifold of a sample set is the union of balls around its points, each with radius the
distance to the point's k-th nearest neighbour other than itself.
- precision: fraction of fakes inside the real manifold (k = 3);
- recall: fraction of reals inside the fake manifold (k = 3);
- density: (1 / k) × mean over fakes of the number of real balls containing them (k = 5);
- coverage: fraction of reals whose ball contains at least one fake (k = 5).
"Inside" follows each reference: `distance <= radius` for precision/recall (stylegan3's code),
`distance < radius` for density/coverage (Naeem et al.'s code; the k-th neighbour itself lies on
its ball's edge, so an identical fake set has density exactly 1). Distances are float64
`torch.cdist` in row chunks, so 10k × 10k sets never hold a full distance matrix. Non-finite
features raise a GankitError instead of silently counting as outside every ball.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch

from gankit.metrics.stats import ArrayLike, as_float64, check_finite


def _pair(real: ArrayLike, fake: ArrayLike) -> tuple[torch.Tensor, torch.Tensor]:
    """Both sets as float64 [N, D] and [M, D], checked for a common dimension."""
    r, f = as_float64(real).flatten(1), as_float64(fake).flatten(1)  # [N, D], [M, D]
    check_finite(r, "real features")
    check_finite(f, "fake features")
    if r.shape[1] != f.shape[1]:
        raise ValueError(f"feature dims differ: real {tuple(r.shape)}, fake {tuple(f.shape)}")
    return r, f


def kth_neighbour_radii(x: torch.Tensor, ks: Sequence[int], chunk_size: int = 1000) -> torch.Tensor:
    """Distance [N, len(ks)] from each row of x [N, D] to its k-th nearest other row, per k."""
    k_max = max(ks)
    if len(x) <= k_max:
        raise ValueError(f"need more than k={k_max} samples, got {len(x)}")
    columns = torch.tensor(list(ks))  # self is neighbour 0, so the k-th other one is at index k
    nearest = [torch.cdist(c, x).topk(k_max + 1, dim=1, largest=False).values for c in x.split(chunk_size)]
    return torch.cat(nearest)[:, columns]  # [N, len(ks)]


def _cross_pass(
    real: torch.Tensor, fake: torch.Tensor, real_radii: torch.Tensor, fake_radii: Optional[torch.Tensor], chunk_size: int,
    strict: Sequence[bool],
) -> tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor]]:
    """One chunked pass over real–fake distances.

    Returns, for real_radii [N, K]: the number of real balls holding each fake [M, K] (column j
    counts `distance < radius` when strict[j], else `<=`), each real's distance to its nearest
    fake [N], and (given fake_radii [M]) whether each real lies in some fake ball (`<=`) [N].
    """
    counts = []
    nearest_fake = torch.full((len(real),), torch.inf, dtype=torch.float64)  # [N]
    recalled = None if fake_radii is None else torch.zeros(len(real), dtype=torch.bool)  # [N]
    for start in range(0, len(fake), chunk_size):
        d = torch.cdist(fake[start : start + chunk_size], real)  # [c, N]
        inside = [(d < real_radii[:, j]) if s else (d <= real_radii[:, j]) for j, s in enumerate(strict)]  # K × [c, N]
        counts.append(torch.stack([ball.sum(dim=1) for ball in inside], dim=1))  # [c, K]
        nearest_fake = torch.minimum(nearest_fake, d.min(dim=0).values)
        if recalled is not None:
            recalled |= (d <= fake_radii[start : start + chunk_size, None]).any(dim=0)
    return torch.cat(counts), nearest_fake, recalled


def precision_recall(real: ArrayLike, fake: ArrayLike, k: int = 3, chunk_size: int = 1000) -> tuple[float, float]:
    """(precision, recall) of `fake` [M, D] against `real` [N, D] with k-NN manifolds."""
    r, f = _pair(real, fake)
    real_radii = kth_neighbour_radii(r, [k], chunk_size)  # [N, 1]
    fake_radii = kth_neighbour_radii(f, [k], chunk_size)[:, 0]  # [M]
    counts, _, recalled = _cross_pass(r, f, real_radii, fake_radii, chunk_size, [False])
    return float((counts[:, 0] > 0).double().mean()), float(recalled.double().mean())


def density_coverage(real: ArrayLike, fake: ArrayLike, k: int = 5, chunk_size: int = 1000) -> tuple[float, float]:
    """(density, coverage) of `fake` [M, D] against `real` [N, D] with k-NN balls around reals."""
    r, f = _pair(real, fake)
    real_radii = kth_neighbour_radii(r, [k], chunk_size)  # [N, 1]
    counts, nearest_fake, _ = _cross_pass(r, f, real_radii, None, chunk_size, [True])
    return float(counts[:, 0].double().mean() / k), float((nearest_fake < real_radii[:, 0]).double().mean())


def prdc(real: ArrayLike, fake: ArrayLike, k_pr: int = 3, k_dc: int = 5, chunk_size: int = 1000) -> dict[str, float]:
    """Precision, recall (k_pr) and density, coverage (k_dc), sharing one set of distance passes."""
    r, f = _pair(real, fake)
    real_radii = kth_neighbour_radii(r, [k_pr, k_dc], chunk_size)  # [N, 2]
    fake_radii = kth_neighbour_radii(f, [k_pr], chunk_size)[:, 0]  # [M]
    counts, nearest_fake, recalled = _cross_pass(r, f, real_radii, fake_radii, chunk_size, [False, True])
    return {
        "precision": float((counts[:, 0] > 0).double().mean()),
        "recall": float(recalled.double().mean()),
        "density": float(counts[:, 1].double().mean() / k_dc),
        "coverage": float((nearest_fake < real_radii[:, 1]).double().mean()),
    }
