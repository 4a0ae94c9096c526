"""The seed-style reference loop (benchmarks/reference_loop.py) runs every model; no timing asserted."""
from __future__ import annotations

import importlib.util
import math
import time
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path("/usr/share/datasets/fashion-mnist")
pytestmark = pytest.mark.skipif(not (ROOT / "t10k-images-idx3-ubyte.gz").is_file(),
                                reason="Fashion-MNIST not installed (dataset-fashion-mnist)")


def _load_module():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "reference_loop.py"
    spec = importlib.util.spec_from_file_location("reference_loop", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("reference_loop", mod)
    spec.loader.exec_module(mod)
    return mod


ref = _load_module()


@pytest.fixture(scope="module")
def test_split():
    return ref.load_fashion_mnist(ROOT, "t10k")


def test_loader_and_dataset(test_split):
    images, labels = test_split
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and labels.dtype == np.int64 and set(np.unique(labels)) == set(range(10))
    x, y = ref.SeedStyleDataset(images, labels)[0]
    assert x.shape == (1, 28, 28) and x.dtype == torch.float32
    assert x.min() >= -1 and x.max() <= 1
    expected = torch.from_numpy(images[0].astype(np.float32)) / 127.5 - 1
    torch.testing.assert_close(x[0], expected)
    assert y == int(labels[0])


def test_seed_slips_as_documented():
    g = ref.Generator(100, (1, 28, 28))
    assert [m.eps for m in g.modules() if isinstance(m, torch.nn.BatchNorm1d)] == [0.8, 0.8, 0.8]
    d = ref.ConditionalDiscriminator(10, (1, 28, 28))
    assert d.label_emb.embedding_dim == 10
    assert d(torch.zeros(2, 1, 28, 28), torch.tensor([0, 9])).shape == (2, 1)


@pytest.mark.parametrize("model", ["gan", "wgan", "cgan", "dcgan"])
def test_each_model_runs(model, test_split):
    threads = torch.get_num_threads()
    state = torch.get_rng_state()
    res = ref.run_reference(model, steps=3, batch_size=16, seed=1, data=test_split)
    assert res["model"] == model and res["steps"] == 3 and res["images"] == 3 * 16
    assert res["seconds"] > 0 and math.isclose(res["images_per_s"], res["images"] / res["seconds"])
    assert set(res["final_losses"]) == {"G", "D"}
    assert all(math.isfinite(v) for v in res["final_losses"].values())
    assert torch.get_num_threads() == threads and torch.equal(torch.get_rng_state(), state)  # state restored


def test_same_seed_same_losses(test_split):
    a = ref.run_reference("gan", steps=2, batch_size=16, seed=3, data=test_split)
    b = ref.run_reference("gan", steps=2, batch_size=16, seed=3, data=test_split)
    assert a["final_losses"] == b["final_losses"]


def test_bad_arguments(test_split):
    with pytest.raises(ValueError, match="unknown model"):
        ref.run_reference("stylegan", steps=1, data=test_split)
    with pytest.raises(ValueError, match="seconds"):
        ref.run_reference("gan", data=test_split)


def test_snapshots_for_time_to_quality(test_split):
    """on_snapshot fires every `snapshot_every` s of training with the live modules; its time is not counted."""
    seen = []

    def keep(at, modules):
        seen.append((at, modules))
        time.sleep(0.05)  # a slow callback: must not count as training time

    wall = time.perf_counter()
    res = ref.run_reference("dcgan", seconds=0.3, batch_size=8, seed=1, data=test_split,
                            snapshot_every=0.1, on_snapshot=keep)
    wall = time.perf_counter() - wall
    assert len(seen) >= 2
    assert [at for at, _ in seen] == sorted(at for at, _ in seen) and seen[0][0] >= 0.1
    assert res["seconds"] >= 0.3 and wall >= res["seconds"] + 0.05 * len(seen)  # the sleeps were not training time
    assert isinstance(seen[0][1][0], ref.DCGAN_Generator)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    try:
        from time_to_quality import ReferenceGenerator, first_reaching
    finally:
        sys.path.pop(0)
    G = ReferenceGenerator(seen[-1][1][0]).eval()
    assert G(torch.randn(3, G.z_dim)).shape == (3, 1, 28, 28)
    assert first_reaching([(20.0, 90.0), (40.0, 70.0), (60.0, 75.0)], 72.0) == 40.0
    assert first_reaching([(20.0, 90.0)], 50.0) is None
