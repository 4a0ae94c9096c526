import math

import pytest
import torch

from gankit.data import load_dataset
from gankit.metrics import mode_coverage


def test_all_at_one_mode_of_the_grid():
    grid = load_dataset("grid")
    samples = grid.means[7].expand(2500, 2).clone()
    result = mode_coverage(samples, grid.means, grid.stds)
    assert result.modes_covered == 1 and result.high_quality == 1.0
    assert result.reverse_kl == pytest.approx(math.log(25))


def test_exact_copies_of_the_modes_cover_everything():
    ring = load_dataset("ring")
    samples = ring.means.repeat(10, 1)
    result = mode_coverage(samples, ring.means, ring.stds)
    assert (result.modes_covered, result.high_quality) == (8, 1.0)
    assert result.reverse_kl == pytest.approx(0.0, abs=1e-12)


def test_true_samples_and_far_away_points():
    ring = load_dataset("ring")
    real = ring.sample(2500, torch.Generator().manual_seed(0))
    result = mode_coverage(real, ring.means, ring.stds)
    # a 2-D Gaussian puts 1 - exp(-9/2) = 98.9 % of its mass within 3 std
    assert result.modes_covered == 8 and abs(result.high_quality - (1 - math.exp(-4.5))) < 0.006 and result.reverse_kl < 0.01
    far = mode_coverage(torch.full((10, 2), 50.0), ring.means, ring.stds)
    assert far.modes_covered == 0 and far.high_quality == 0.0 and far.reverse_kl == math.inf
