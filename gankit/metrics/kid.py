"""Kernel Inception Distance (Bińkowski et al. 2018; as in NVlabs stylegan3; GUIDE §7).

Polynomial kernel k(x, y) = (xᵀy / d + 1)³ with d the feature dimension. For each of
`num_subsets` pairs of subsets of m = min(n_real, n_fake, max_subset_size) rows, the unbiased
MMD² is t / m with a = K_xx + K_yy, b = K_xy and t = (Σa − tr a)/(m − 1) − 2 Σb / m, i.e.
off-diagonal means of K_xx and K_yy minus twice the full mean of K_xy. Reports the mean and the
population (ddof = 0) standard deviation over subsets.
"""
from __future__ import annotations

from typing import Optional

import torch

from gankit.metrics.stats import ArrayLike, as_float64, check_finite


def mmd2_unbiased(x: torch.Tensor, y: torch.Tensor) -> float:
    """Unbiased MMD² between equal-size samples x [m, D] and y [m, D] under the cubic kernel."""
    m, d = x.shape
    a = (x @ x.T / d + 1) ** 3 + (y @ y.T / d + 1) ** 3  # [m, m]
    b = (x @ y.T / d + 1) ** 3  # [m, m]
    t = (a.sum() - a.diagonal().sum()) / (m - 1) - b.sum() * 2 / m
    return float(t / m)


def kernel_inception_distance(
    real: ArrayLike,
    fake: ArrayLike,
    num_subsets: int = 100,
    max_subset_size: int = 1000,
    generator: Optional[torch.Generator] = None,
) -> tuple[float, float]:
    """(mean, std) of the unbiased MMD² over subsets of `real` [N, D] and `fake` [M, D].

    Subsets are drawn without replacement with `generator`; when None, a fresh generator seeded
    with 0, so the result is reproducible and the global RNG is left untouched.
    """
    x_all, y_all = as_float64(fake).flatten(1), as_float64(real).flatten(1)  # [M, D], [N, D]
    check_finite(x_all, "fake features")
    check_finite(y_all, "real features")
    if x_all.shape[1] != y_all.shape[1]:
        raise ValueError(f"feature dims differ: real {tuple(y_all.shape)}, fake {tuple(x_all.shape)}")
    m = min(len(x_all), len(y_all), max_subset_size)
    if m < 2:
        raise ValueError(f"KID needs subsets of at least 2 samples, got m={m}")
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    values = torch.empty(num_subsets, dtype=torch.float64)  # [S]
    for s in range(num_subsets):
        x = x_all[torch.randperm(len(x_all), generator=g)[:m]]  # [m, D]
        y = y_all[torch.randperm(len(y_all), generator=g)[:m]]  # [m, D]
        values[s] = mmd2_unbiased(x, y)
    return float(values.mean()), float(values.std(correction=0))
