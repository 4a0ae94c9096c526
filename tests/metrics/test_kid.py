import itertools

import numpy as np
import pytest
import torch

from gankit.errors import GankitError
from gankit.metrics.kid import kernel_inception_distance


def direct_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² by its definition, with explicit loops over pairs."""
    m, d = x.shape

    def k(a: np.ndarray, b: np.ndarray) -> float:
        return (a @ b / d + 1) ** 3

    same = sum(k(x[i], x[j]) + k(y[i], y[j]) for i, j in itertools.permutations(range(m), 2))
    cross = sum(k(x[i], y[j]) for i in range(m) for j in range(m))
    return same / (m * (m - 1)) - 2 * cross / m**2


def test_matches_direct_formula_when_the_subset_is_everything():
    rng = np.random.default_rng(0)
    real, fake = rng.standard_normal((12, 5)), 0.3 + rng.standard_normal((12, 5))
    mean, std = kernel_inception_distance(real, fake, num_subsets=3, max_subset_size=100)
    assert mean == pytest.approx(direct_mmd2(fake, real), rel=1e-12)
    assert std == pytest.approx(0, abs=1e-15)


def test_near_zero_for_same_distribution_and_positive_for_shifted():
    g = torch.Generator().manual_seed(0)
    real, same, shifted = (torch.randn(600, 16, generator=g) for _ in range(3))
    kid_same, std_same = kernel_inception_distance(real, same, num_subsets=20, max_subset_size=300)
    kid_shift, std_shift = kernel_inception_distance(real, shifted + 0.5, num_subsets=20, max_subset_size=300)
    assert abs(kid_same) < 0.05 * kid_shift
    assert kid_shift > 10 * std_shift > 0


def test_deterministic_under_a_seeded_generator_and_leaves_global_rng_alone():
    g = torch.Generator().manual_seed(1)
    real, fake = torch.randn(80, 4, generator=g), torch.randn(50, 4, generator=g)

    def run(seed: int) -> tuple[float, float]:
        return kernel_inception_distance(real, fake, 5, 30, torch.Generator().manual_seed(seed))

    assert run(7) == run(7) != run(8)
    state = torch.random.get_rng_state()
    assert kernel_inception_distance(real, fake, 5, 30) == run(0)
    assert torch.equal(state, torch.random.get_rng_state())


def test_non_finite_features_raise_one_clear_error():
    real, fake = torch.randn(40, 5), torch.randn(40, 5)
    fake[3, 0] = float("nan")
    with pytest.raises(GankitError, match="fake features hold NaN or Inf \\(row 3\\)"):
        kernel_inception_distance(real, fake, num_subsets=2)
