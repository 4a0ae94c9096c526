import numpy as np
import torch

from gankit.metrics.stats import FeatureStats


def data(seed: int = 0, n: int = 257, d: int = 6) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return 1e3 + torch.randn(n, d, generator=g, dtype=torch.float64) * torch.linspace(0.1, 2, d, dtype=torch.float64)


def assert_matches_numpy(stats: FeatureStats, x: torch.Tensor) -> None:
    assert stats.count == len(x)
    assert np.allclose(stats.mean.numpy(), x.numpy().mean(0), rtol=1e-14, atol=0)
    assert np.allclose(stats.cov.numpy(), np.cov(x.numpy(), rowvar=False), rtol=1e-10, atol=1e-13)


def test_one_chunk_and_many_chunks_equal_numpy():
    x = data()
    whole, pieces = FeatureStats(6), FeatureStats(6)
    whole.update(x)
    for chunk in x.split([1, 50, 0, 99, 107]):
        pieces.update(chunk.numpy())
    assert_matches_numpy(whole, x)
    assert_matches_numpy(pieces, x)


def test_merge_of_shards_equals_all():
    x = data(1)
    shards = [FeatureStats(6), FeatureStats(6), FeatureStats(6)]
    for i, chunk in enumerate(x.split(100)):
        shards[i].update(chunk)
    merged = FeatureStats(6)
    for shard in shards:
        merged.merge(shard)
    assert_matches_numpy(merged, x)


def test_raw_features_kept_up_to_max_items_across_updates_and_merge():
    x = data(2, n=40).float()
    a, b = FeatureStats(6, max_items=25), FeatureStats(6, max_items=25)
    a.update(x[:10])
    b.update(x[10:40])
    a.merge(b)
    assert torch.equal(a.features, x[:25])
    assert a.count == 40 and FeatureStats(6).features.shape == (0, 6)


def test_state_dict_round_trip_is_tensors_only(tmp_path):
    x = data(3)
    stats = FeatureStats(6, max_items=10)
    stats.update(x)
    torch.save(stats.state_dict(), tmp_path / "stats.pt")
    restored = FeatureStats(6)
    restored.load_state_dict(torch.load(tmp_path / "stats.pt", weights_only=True))
    assert all(isinstance(v, torch.Tensor) for v in stats.state_dict().values())
    assert restored.count == stats.count and restored.max_items == 10
    assert torch.equal(restored.cov, stats.cov) and torch.equal(restored.features, stats.features)
    restored.update(x)  # still streams after loading
    assert_matches_numpy(restored, torch.cat([x, x]))
