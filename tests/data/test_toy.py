"""Toy mixtures: mode statistics, geometry, determinism, densities."""
import itertools
import math

import pytest
import torch

from gankit.data import ToyDistribution, gaussian_mixture, load_dataset
from gankit.errors import GankitError


def _mode_stats(dist: ToyDistribution, n: int = 20_000, seed: int = 0):
    x = dist.sample(n, torch.Generator().manual_seed(seed)).double()  # [n, D]
    nearest = torch.cdist(x, dist.means).argmin(dim=1)  # [n]
    for k in range(len(dist.means)):
        pts = x[nearest == k]
        yield k, len(pts) / n, pts.mean(0), pts.std(0)


@pytest.mark.parametrize("name,k,dim,std", [("ring", 8, 2, 0.01), ("grid", 25, 2, 0.05)])
def test_mode_statistics(name, k, dim, std):
    dist = load_dataset(name, resolution=64, channels=3)  # image options are ignored
    assert isinstance(dist, ToyDistribution) and (dist.kind, dist.num_classes, dist.dim) == ("vector", 0, dim)
    assert dist.means.shape == (k, dim) and torch.allclose(dist.stds, torch.full((k,), std, dtype=torch.float64))
    for m, frac, mean, sd in _mode_stats(dist):
        assert abs(frac - 1 / k) < 0.25 / k
        assert torch.allclose(mean, dist.means[m], atol=4 * std / math.sqrt(20_000 / k) + 1e-9)
        assert torch.allclose(sd, torch.full_like(sd, std), rtol=0.1)


def test_ring_radius_one_and_grid_means():
    ring = load_dataset("ring")
    assert torch.allclose(ring.means.norm(dim=1), torch.ones(8, dtype=torch.float64))
    r = ring.sample(5000, torch.Generator().manual_seed(3)).norm(dim=1)
    assert abs(float(r.mean()) - 1) < 0.005
    grid = load_dataset("grid")
    assert {tuple(m) for m in grid.means.tolist()} == set(itertools.product([-4.0, -2.0, 0.0, 2.0, 4.0], repeat=2))


def test_bimodal():
    dist = load_dataset("bimodal")
    assert dist.dim == 1 and dist.means.flatten().tolist() == [2.0, 8.0] and dist.weights.tolist() == [0.5, 0.5]
    x = dist.sample(20_000, torch.Generator().manual_seed(0)).double()
    assert abs(float(x.mean()) - 5) < 0.1 and abs(float(x.var()) - 10) < 0.3  # var = 1 + 9


def test_sampling_uses_only_the_generator():
    dist = load_dataset("grid")
    torch.manual_seed(123)
    a = dist.sample(100, torch.Generator().manual_seed(7))
    torch.manual_seed(456)
    b = dist.sample(100, torch.Generator().manual_seed(7))
    assert a.dtype == torch.float32 and a.shape == (100, 2) and torch.equal(a, b)
    assert not torch.equal(a, dist.sample(100, torch.Generator().manual_seed(8)))


def test_log_density():
    single = gaussian_mixture([[1.0, -1.0]], 2.0)
    x = torch.tensor([[0.0, 0.0], [1.0, -1.0]])
    expected = -math.log(2 * math.pi * 4) - (x.double() - torch.tensor([1.0, -1.0])).square().sum(1) / 8
    assert torch.allclose(single.log_density(x), expected)
    dist = load_dataset("bimodal")
    grid = torch.linspace(-10, 20, 30_001)[:, None]
    assert abs(float(dist.log_density(grid).exp().sum() * 0.001) - 1) < 1e-4


def test_gaussian_mixture_inputs():
    d = gaussian_mixture([0.0, 1.0, 5.0], [1.0, 2.0, 3.0], weights=[1, 1, 2], name="mine")
    assert d.name == "mine" and d.means.shape == (3, 1) and d.weights.tolist() == [0.25, 0.25, 0.5]
    assert d.means.dtype == d.stds.dtype == d.weights.dtype == torch.float64
    assert d.to("cpu") is d
    with pytest.raises(GankitError, match="stds"):
        gaussian_mixture([[0.0, 0.0]], [1.0, 2.0])
    with pytest.raises(GankitError, match="weights"):
        gaussian_mixture([0.0, 1.0], 1.0, weights=[1.0, -1.0])
    with pytest.raises(GankitError, match="means"):
        gaussian_mixture([], 1.0)


def test_mixture_file_round_trip_through_load_dataset(tmp_path):
    from gankit.data import load_dataset, save_mixture

    mixture = gaussian_mixture([[0.0, 1.0], [2.0, -1.0]], [0.1, 0.2], [0.25, 0.75], name="drawn")
    save_mixture(mixture, tmp_path / "drawn.json")
    loaded = load_dataset(str(tmp_path / "drawn.json"))
    assert loaded.name == "drawn" and loaded.kind == "vector"
    for a, b in ((loaded.means, mixture.means), (loaded.stds, mixture.stds), (loaded.weights, mixture.weights)):
        assert torch.equal(a, b)


def test_bad_mixture_file_is_one_clear_error(tmp_path):
    from gankit.data import load_dataset

    (tmp_path / "bad.json").write_text('{"means": [[0, 0]]}')
    with pytest.raises(GankitError, match="needs keys 'means'"):
        load_dataset(str(tmp_path / "bad.json"))
    (tmp_path / "neg.json").write_text('{"means": [[0, 0]], "stds": -1}')
    with pytest.raises(GankitError, match="positive"):
        load_dataset(str(tmp_path / "neg.json"))
