import numpy as np
import pytest
import scipy.linalg
import torch

from gankit.errors import GankitError
from gankit.metrics.frechet import frechet_distance, frechet_from_features, mean_cov


def sqrtm_reference(mu1, s1, mu2, s2) -> float:
    """The classic pytorch-fid formula: tr sqrtm(S1 S2), real part."""
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def random_spd(d: int, rng: np.random.Generator) -> np.ndarray:
    a = rng.standard_normal((d, d)) / np.sqrt(d)
    return a @ a.T + 0.05 * np.eye(d)  # [d, d]


def test_isotropic_gaussians_closed_form():
    d, s = 64, 1.7
    mu = np.linspace(-1, 1, d)
    fd = frechet_distance(np.zeros(d), np.eye(d), mu, s**2 * np.eye(d))
    assert fd == pytest.approx(mu @ mu + d * (1 - s) ** 2, rel=1e-12)


def test_diagonal_gaussians_closed_form():
    rng = np.random.default_rng(0)
    d = 32
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    sd1, sd2 = rng.uniform(0.1, 3, d), rng.uniform(0.1, 3, d)
    fd = frechet_distance(mu1, np.diag(sd1**2), mu2, np.diag(sd2**2))
    assert fd == pytest.approx(((mu1 - mu2) ** 2).sum() + ((sd1 - sd2) ** 2).sum(), rel=1e-12)


def test_matches_sqrtm_reference_on_random_spd():
    rng = np.random.default_rng(64)
    mu1, mu2 = rng.standard_normal(64), rng.standard_normal(64)
    s1, s2 = random_spd(64, rng), random_spd(64, rng)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(sqrtm_reference(mu1, s1, mu2, s2), rel=1e-6)


@pytest.mark.slow  # scipy's sqrtm alone takes ~20 s at 2048-d on 2 cores
def test_matches_sqrtm_reference_on_2048d_spd():
    rng = np.random.default_rng(2048)
    mu1, mu2 = rng.standard_normal(2048), rng.standard_normal(2048)
    s1, s2 = random_spd(2048, rng), random_spd(2048, rng)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(sqrtm_reference(mu1, s1, mu2, s2), rel=1e-6)


@pytest.mark.parametrize("d, singular", [(2048, "sigma2"), (256, "sigma1")])
def test_commuting_covariances_closed_form(d, singular):
    # S1 = Q diag(a) Qᵀ and S2 = Q diag(b) Qᵀ commute, so tr sqrt(S1^½ S2 S1^½) = Σ √(a b) and
    # FD = Σ (√a − √b)²; a quarter of one spectrum is zero (Cholesky path vs. the eigh fallback).
    rng = np.random.default_rng(d)
    q = np.linalg.qr(rng.standard_normal((d, d)))[0]  # random orthogonal [d, d]
    a, b = rng.uniform(0.01, 3, d), rng.uniform(0.01, 3, d)
    (a if singular == "sigma1" else b)[: d // 4] = 0
    fd = frechet_distance(np.zeros(d), (q * a) @ q.T, np.zeros(d), (q * b) @ q.T)
    # eigenvalues below D·eps·λmax count as 0: without that, √ of the rounding noise ε‖S‖ on the
    # zero eigenvalues (≈ 3e-8 each) biased the result by about 1e-7 relative
    assert fd == pytest.approx(((np.sqrt(a) - np.sqrt(b)) ** 2).sum(), rel=1e-10)


def test_fewer_samples_than_dimensions_is_finite_and_matches_sqrtm():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((50, 128)), 0.5 + 2 * rng.standard_normal((50, 128))  # rank-49 covariances
    mu1, s1 = a.mean(0), np.cov(a, rowvar=False)
    mu2, s2 = b.mean(0), np.cov(b, rowvar=False)
    fd = frechet_distance(mu1, s1, mu2, s2)
    assert np.isfinite(fd)
    assert fd == pytest.approx(sqrtm_reference(mu1, s1, mu2, s2), rel=1e-5)


def test_symmetric_and_zero_on_identical_inputs():
    rng = np.random.default_rng(2)
    d = 96
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    s1, s2 = random_spd(d, rng), random_spd(d, rng)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(frechet_distance(mu2, s2, mu1, s1), rel=1e-10)
    assert abs(frechet_distance(mu1, s1, mu1, s1)) < 1e-8 * np.trace(s1)


def test_from_features_accepts_tensors_and_matches_numpy_moments():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(300, 8, generator=g), 1 + torch.randn(200, 8, generator=g).float()
    mu, cov = mean_cov(a)
    assert np.allclose(cov.numpy(), np.cov(a.double().numpy(), rowvar=False), rtol=1e-12)
    expected = frechet_distance(mu, cov, b.double().mean(0), np.cov(b.double().numpy(), rowvar=False))
    assert frechet_from_features(a, b) == pytest.approx(expected, rel=1e-12)


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match="shapes differ"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


@pytest.mark.parametrize("d, rank, scale", [(64, 8, 1.0), (256, 16, 100.0), (512, 30, 1e4)])
def test_identical_singular_covariances_give_zero(d, rank, scale):
    """Fewer samples than dimensions: the rank-deficient covariance against itself is FID 0, not the
    sum of square roots of its rounding-noise eigenvalues (-1.0e3 at 512-d, scale 1e4, before)."""
    g = torch.Generator().manual_seed(d)
    mu, sigma = mean_cov(torch.randn(2 * rank, d, generator=g, dtype=torch.float64) * scale)
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-12 * float(sigma.trace())


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_inputs_raise_one_clear_error(bad):
    a = torch.randn(50, 6, generator=torch.Generator().manual_seed(0))
    b = a.clone()
    b[7, 3] = bad
    with pytest.raises(GankitError, match="features hold NaN or Inf \\(row 7\\)"):
        frechet_from_features(a, b)
    mu, sigma = mean_cov(a)
    sigma[2, 2] = bad
    with pytest.raises(GankitError, match="sigma2"):
        frechet_distance(mu, mean_cov(a)[1], mu, sigma)
