"""Reference statistics: streaming equals batch maths, the cache reuses, a changed option recomputes."""
import numpy as np
import pytest
import torch

from gankit.data import load_dataset
from gankit.metrics import reference
from gankit.metrics.features import load_extractor
from gankit.metrics.frechet import mean_cov
from gankit.metrics.reference import cache_dir, key_hash, real_feature_set
from tests.metrics.eval_fixtures import make_idx_data


@pytest.fixture
def setup(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    data_dir = make_idx_data(tmp_path / "data")
    calls = []
    real_extract = reference.extract
    monkeypatch.setattr(reference, "extract", lambda *a, **k: calls.append(k.get("desc")) or real_extract(*a, **k))
    return data_dir, calls


def features(data_dir, split="test", count=None, weights=None, resolution=None, keep_logits=False, batch_size=7):
    data = load_dataset(data_dir, split=split, resolution=resolution)
    return real_feature_set(data, str(data_dir), split, load_extractor("test-tiny", weights), count, keep_logits,
                            batch_size=batch_size, progress=False)


def test_streamed_statistics_equal_the_batch_maths(setup):
    data_dir, _ = setup
    fs, key = features(data_dir, "train", batch_size=7)  # 120 images in uneven batches
    data = load_dataset(data_dir, split="train")
    all_features, logits = load_extractor("test-tiny")(data.get(torch.arange(len(data)))[0])
    mu, cov = mean_cov(all_features)
    torch.testing.assert_close(fs.stats.mean, mu, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(fs.stats.cov, cov, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(fs.stats.features, all_features)  # fewer than RAW_ITEMS: all kept
    assert torch.equal(fs.predictions, logits.argmax(1)) and torch.equal(fs.labels, data.labels)
    assert fs.count == 120 and key["count"] == 120 and key["subset_seed"] is None


def test_second_call_reuses_the_cache_with_identical_numbers(setup):
    data_dir, calls = setup
    first, key = features(data_dir)
    path = cache_dir() / f"{key_hash(key)}.npz"
    assert path.is_file() and len(calls) == 1
    assert not list(cache_dir().glob(".*.part"))  # atomic write left no temporary file
    second, key2 = features(data_dir)
    assert len(calls) == 1 and key2 == key
    assert torch.equal(second.stats.mean, first.stats.mean) and torch.equal(second.stats.cov, first.stats.cov)
    assert torch.equal(second.stats.features, first.stats.features) and torch.equal(second.labels, first.labels)
    with np.load(path, allow_pickle=False) as npz:  # plain arrays only: safe to load
        assert "key" in npz.files


@pytest.mark.parametrize("change", [{"split": "train"}, {"count": 30}, {"weights": "seed=1"}, {"resolution": 4},
                                    {"keep_logits": True}])
def test_a_changed_option_recomputes(setup, change):
    data_dir, calls = setup
    _, key = features(data_dir)
    _, changed = features(data_dir, **change)
    assert len(calls) == 2 and key_hash(changed) != key_hash(key)
    assert len(list(cache_dir().glob("*.npz"))) == 2


def test_changed_pixels_recompute(setup, tmp_path):
    data_dir, calls = setup
    _, key = features(data_dir)
    make_idx_data(data_dir, seed=1)  # same name, same split, other content
    _, changed = features(data_dir)
    assert len(calls) == 2 and changed["content_sha256"] != key["content_sha256"]


def test_corrupt_or_foreign_cache_files_are_recomputed(setup):
    data_dir, calls = setup
    first, key = features(data_dir)
    path = cache_dir() / f"{key_hash(key)}.npz"
    path.write_bytes(b"not a zip file")
    with pytest.warns(UserWarning, match="unreadable cached statistics"):
        again, _ = features(data_dir)
    assert len(calls) == 2 and torch.equal(again.stats.mean, first.stats.mean)
    np.savez(path, key=np.array('{"other": 1}'), **first.arrays())  # a file whose stored key differs
    features(data_dir)
    assert len(calls) == 3


def test_subset_is_seeded_and_keyed(setup):
    data_dir, _ = setup
    a, key = features(data_dir, "train", count=50)
    b, _ = features(data_dir, "train", count=50, batch_size=13)  # from the cache
    assert a.count == 50 and key["subset_seed"] == reference.SUBSET_SEED
    assert torch.equal(a.labels, b.labels)


def test_raw_rows_are_a_seeded_random_subset_not_the_first_rows(setup, monkeypatch):
    """KID/PR/DC read the kept raw rows: on a class-sorted folder the first rows would be a few classes only."""
    data_dir, _ = setup
    monkeypatch.setattr(reference, "RAW_ITEMS", 30)
    fs, key = features(data_dir, "train")  # 120 images, 30 kept raw
    data = load_dataset(data_dir, split="train")
    all_features = load_extractor("test-tiny")(data.get(torch.arange(len(data)))[0])[0]  # [120, F]
    kept = [int((all_features - row).abs().sum(1).argmin()) for row in fs.stats.features]  # the rows kept
    assert len(set(kept)) == 30 and max(kept) >= 60 and kept != list(range(30))
    assert kept == sorted(kept)  # in dataset order
    expected = torch.randperm(120, generator=torch.Generator().manual_seed(reference.RAW_SUBSET_SEED))[:30].sort().values
    assert kept == expected.tolist() and key["raw_subset_seed"] == reference.RAW_SUBSET_SEED
    mu, cov = mean_cov(all_features)  # the statistics still see every row
    torch.testing.assert_close(fs.stats.mean, mu, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(fs.stats.cov, cov, rtol=1e-8, atol=1e-12)
    assert sorted(fs.labels.tolist()) == sorted(data.labels.tolist())
