"""The seed-style reference loop (benchmarks/reference_loop.py) runs every model; no timing asserted."""
from __future__ import annotations

import importlib.util
import math
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
