"""Fréchet distance between Gaussians fitted to features (FID; GUIDE §7).

FD = ‖μ1 − μ2‖² + tr S1 + tr S2 − 2 tr sqrt(sqrt(S1) S2 sqrt(S1)), in float64, never through
`scipy.linalg.sqrtm` (slow, and complex parts for singular products). For any factor A with
A Aᵀ = S1, the symmetric matrix Aᵀ S2 A is orthogonally similar to sqrt(S1) S2 sqrt(S1), so the
trace term is the sum of the square roots of its eigenvalues (`eigvalsh`, clamped at 0). A is the
Cholesky factor when S1 is positive definite (about 2.5× faster than eigh at 2048-d, and as
backward stable); otherwise (e.g. fewer samples than dimensions) V diag(√w) from eigh. A singular
matrix's zero eigenvalues come out of eigh as rounding noise of either sign, up to about D·eps·λmax;
their square roots (≈ √(D·eps·λmax) each, not small) would bias the trace term, so both
eigendecompositions treat eigenvalues below D·eps·λmax as exactly 0 (numpy's matrix_rank rule).
Non-finite inputs raise a GankitError.
"""
from __future__ import annotations

import torch

from gankit.metrics.stats import ArrayLike, as_float64, check_finite


def _drop_noise(w: torch.Tensor) -> torch.Tensor:
    """Eigenvalues w [D] with those below D·eps·max(w) (rounding noise of a singular matrix) set to 0."""
    tol = len(w) * torch.finfo(w.dtype).eps * w.abs().max()
    return torch.where(w > tol, w, torch.zeros_like(w))


def _psd_factor(sigma: torch.Tensor) -> torch.Tensor:
    """A [D, D] with A Aᵀ = sigma [D, D]: Cholesky if positive definite, else eigh clamped at 0."""
    lower, info = torch.linalg.cholesky_ex(sigma)  # [D, D]
    if info == 0:
        return lower
    w, v = torch.linalg.eigh(sigma)  # [D], [D, D]
    return v * _drop_noise(w).sqrt()  # columns scaled by √w


def frechet_distance(mu1: ArrayLike, sigma1: ArrayLike, mu2: ArrayLike, sigma2: ArrayLike) -> float:
    """Fréchet distance between N(mu1 [D], sigma1 [D, D]) and N(mu2 [D], sigma2 [D, D])."""
    mu1, mu2 = as_float64(mu1).reshape(-1), as_float64(mu2).reshape(-1)  # [D]
    s1, s2 = as_float64(sigma1), as_float64(sigma2)  # [D, D]
    for value, what in ((mu1, "mu1"), (s1, "sigma1"), (mu2, "mu2"), (s2, "sigma2")):
        check_finite(value.reshape(1, -1), f"FID statistics ({what})")
    d = len(mu1)
    if mu2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        shapes = [tuple(t.shape) for t in (mu1, s1, mu2, s2)]
        raise ValueError(f"shapes differ: (mu1, sigma1, mu2, sigma2) = {shapes}")
    s1, s2 = (s1 + s1.T) / 2, (s2 + s2.T) / 2
    a = _psd_factor(s1)  # [D, D]
    m = a.T @ s2 @ a  # [D, D], same spectrum as sqrt(S1) S2 sqrt(S1)
    tr_covmean = _drop_noise(torch.linalg.eigvalsh((m + m.T) / 2)).sqrt().sum()
    diff = mu1 - mu2
    return float(diff @ diff + s1.trace() + s2.trace() - 2 * tr_covmean)


def mean_cov(features: ArrayLike) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean [D] and unbiased (N − 1) covariance [D, D] of `features` [N, D], in float64."""
    x = as_float64(features).flatten(1)  # [N, D]
    check_finite(x, "features")
    if len(x) < 2:
        raise ValueError(f"need at least 2 samples for a covariance, got {len(x)}")
    mu = x.mean(dim=0)  # [D]
    xc = x - mu  # [N, D]
    return mu, xc.T @ xc / (len(x) - 1)


def frechet_from_features(a: ArrayLike, b: ArrayLike) -> float:
    """Fréchet distance between Gaussians fitted to features `a` [N, D] and `b` [M, D]."""
    return frechet_distance(*mean_cov(a), *mean_cov(b))
