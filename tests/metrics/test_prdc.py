import numpy as np
import pytest
import torch

from gankit.errors import GankitError
from gankit.metrics.prdc import density_coverage, precision_recall, prdc


def gaussians(n: int = 2000, d: int = 16, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g), torch.randn(n, d, generator=g)


def brute_force(real: np.ndarray, fake: np.ndarray, k_pr: int, k_dc: int) -> dict:
    """PRDC straight from the definitions with full distance matrices and sorting (`<=` for precision/recall
    as stylegan3's code, `<` for density/coverage as Naeem et al.'s)."""
    def radii(x, k):
        d = np.linalg.norm(x[:, None] - x[None], axis=2)
        return np.sort(d, axis=1)[:, k]  # column 0 is the point itself
    d_rf = np.linalg.norm(real[:, None] - fake[None], axis=2)  # [N, M]
    r_pr, f_pr, r_dc = radii(real, k_pr), radii(fake, k_pr), radii(real, k_dc)
    return {
        "precision": (d_rf <= r_pr[:, None]).any(0).mean(),
        "recall": (d_rf <= f_pr[None]).any(1).mean(),
        "density": (d_rf < r_dc[:, None]).sum(0).mean() / k_dc,
        "coverage": (d_rf.min(1) < r_dc).mean(),
    }


def test_matches_brute_force_and_chunking_does_not_matter():
    rng = np.random.default_rng(0)
    real, fake = rng.standard_normal((60, 3)), 0.4 + 1.3 * rng.standard_normal((45, 3))
    expected = brute_force(real, fake, 3, 5)
    for chunk in (7, 1000):
        assert prdc(real, fake, chunk_size=chunk) == pytest.approx(expected, abs=1e-12)
    assert precision_recall(real, fake, 3, 7) == pytest.approx((expected["precision"], expected["recall"]))
    assert density_coverage(real, fake, 5, 7) == pytest.approx((expected["density"], expected["coverage"]))


def test_same_gaussian_sanity_check():
    # Same distribution: E[density] = 1 exactly (a fresh point is among a real's k nearest with
    # probability k/N), and E[coverage] = 1 − Π_i (N−i)/(N+M−i) ≈ 1 − 2⁻ᵏ (Naeem 2020, Lemma 2).
    # Precision and recall have no closed form: each fake sits in k = 3 real balls on average,
    # but hubness in 16-d spreads that count, giving ≈ 0.79 here (1 − e⁻³ = 0.95 if Poisson).
    real, fake = gaussians()
    r = prdc(real, fake)
    n = len(real)
    expected_coverage = 1 - np.prod([(n - i) / (2 * n - i) for i in range(1, 6)])
    assert r["density"] == pytest.approx(1.0, abs=0.1)
    assert r["coverage"] == pytest.approx(expected_coverage, abs=0.02)
    assert 0.7 < r["precision"] < 0.9 and 0.7 < r["recall"] < 0.9
    assert abs(r["precision"] - r["recall"]) < 0.05  # the roles are symmetric


def test_narrow_fakes_are_precise_but_not_diverse_and_wide_fakes_the_reverse():
    real, fake = gaussians(1000)
    narrow, wide = precision_recall(real, 0.5 * fake), precision_recall(real, 2 * fake)
    assert narrow[0] > 0.95 and narrow[1] < 0.1
    assert wide[0] < 0.1 and wide[1] > 0.95


def test_disjoint_distributions_score_zero():
    real, fake = gaussians(500)
    assert prdc(real, fake + 10) == pytest.approx({"precision": 0, "recall": 0, "density": 0, "coverage": 0})


def test_too_few_samples_raise():
    with pytest.raises(ValueError, match="more than k=3"):
        precision_recall(torch.randn(3, 2), torch.randn(10, 2))


def test_identical_sets_have_density_one_as_naeem_et_al():
    """A fake set equal to the real one: each fake lies in its own real ball and in the k - 1 balls of
    its nearest neighbours, but not in the k-th's (on its edge), so density is exactly 1 (1.2 with `<=`)."""
    real, _ = gaussians(300, 8)
    values = prdc(real, real.clone())
    assert values["density"] == pytest.approx(1.0, abs=1e-12)
    assert values["coverage"] == 1.0 and values["precision"] == 1.0 and values["recall"] == 1.0
    assert density_coverage(real, real.clone()) == pytest.approx((1.0, 1.0), abs=1e-12)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
@pytest.mark.parametrize("which", ["real", "fake"])
def test_non_finite_features_raise_one_clear_error(bad, which):
    """One NaN fake row once made coverage silently 0.0; now every entry point refuses it by name."""
    real, fake = gaussians(100, 4)
    (real if which == "real" else fake)[17, 2] = bad
    for metric in (prdc, precision_recall, density_coverage):
        with pytest.raises(GankitError, match=f"{which} features hold NaN or Inf \\(row 17\\)"):
            metric(real, fake)
