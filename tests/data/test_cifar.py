"""CIFAR-10 python batches: restricted unpickling, layouts, geometry, registered name and download."""
import hashlib
import io
import os
import pickle
import struct
import tarfile

import numpy as np
import pytest
import torch

from gankit.data import cifar, load_dataset, sources
from gankit.errors import GankitError

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


class _Py2Pickler(pickle._Pickler):
    """Writes bytes as Python 2 `str` (BINSTRING), as the CIFAR files were written."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2_str(self, obj: bytes) -> None:
        self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str


def _py2_dump(obj: object, path) -> None:
    """A protocol-2 pickle naming numpy.core.multiarray, like the real (Python 2) CIFAR-10 batches."""
    pickler = _Py2Pickler(buffer := io.BytesIO(), protocol=2)
    pickler.dump(obj)
    path.write_bytes(buffer.getvalue().replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n"))


def _batch(n: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "batch_label": f"batch {seed}",
        "labels": rng.integers(0, 10, n).tolist(),
        "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        "filenames": [f"img_{i}.png" for i in range(n)],
    }


@pytest.fixture
def cifar_dir(tmp_path):
    d = tmp_path / "data" / "cifar-10-batches-py"
    d.mkdir(parents=True)
    batches = {"data_batch_1": _batch(5, 1), "data_batch_2": _batch(3, 2), "test_batch": _batch(4, 3)}
    _py2_dump(batches["data_batch_1"], d / "data_batch_1")
    with open(d / "data_batch_2", "wb") as f:
        pickle.dump(batches["data_batch_2"], f)
    with open(d / "test_batch", "wb") as f:
        pickle.dump(batches["test_batch"], f, protocol=5)
    _py2_dump({"label_names": [c.encode() for c in CLASSES], "num_cases_per_batch": 10000}, d / "batches.meta")
    return d, batches


def test_py2_pickle_uses_only_numpy_core_names(cifar_dir):
    d, _ = cifar_dir
    raw = (d / "data_batch_1").read_bytes()
    assert b"numpy.core.multiarray\n_reconstruct" in raw and b"_codecs" not in raw


def test_train_and_test(cifar_dir):
    d, batches = cifar_dir
    ds = load_dataset(str(d))
    assert ds.name == "cifar10" and ds.images.shape == (8, 3, 32, 32) and ds.images.dtype == torch.uint8
    data = np.concatenate([batches["data_batch_1"]["data"], batches["data_batch_2"]["data"]])
    assert np.array_equal(ds.images.reshape(8, -1).numpy(), data)
    assert ds.labels.tolist() == batches["data_batch_1"]["labels"] + batches["data_batch_2"]["labels"]
    assert ds.class_names == CLASSES and ds.num_classes == 10
    test = load_dataset(str(d.parent), split="test")  # the parent of cifar-10-batches-py works too
    assert test.images.shape == (4, 3, 32, 32) and test.labels.tolist() == batches["test_batch"]["labels"]


def test_resolution_and_channels(cifar_dir):
    d, batches = cifar_dir
    grey = load_dataset(str(d), channels=1)
    assert grey.images.shape == (8, 1, 32, 32)
    r, g, b = (batches["data_batch_1"]["data"][0].reshape(3, 32, 32)[c, 5, 7].astype(int) for c in range(3))
    assert abs(int(grey.images[0, 0, 5, 7]) - (r * 299 + g * 587 + b * 114) / 1000) <= 1  # ITU-R 601 luma
    for res in (16, 48):
        ds = load_dataset(str(d), resolution=res)
        assert ds.images.shape == (8, 3, res, res) and ds.images.dtype == torch.uint8


def test_registered_name_with_root(cifar_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path / "none"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    d, _ = cifar_dir
    assert len(load_dataset("cifar10", root=str(d.parent), download=False)) == 8
    with pytest.raises(GankitError, match=r"cifar10 not found .* download=False; to get cifar10: download https"):
        load_dataset("cifar10", download=False)


def test_download_and_unpack(cifar_dir, tmp_path, monkeypatch):
    d, _ = cifar_dir
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(d, arcname="cifar-10-batches-py")
    remote = sources.RemoteFile(archive.as_uri(), hashlib.md5(archive.read_bytes()).hexdigest())
    source = sources.Source("cifar10", {"cifar-10-python.tar.gz": remote}, "how")
    monkeypatch.setitem(sources.SOURCES, "cifar10", source)
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    ds = load_dataset("cifar10", split="test")
    assert len(ds) == 4
    assert sorted(p.name for p in (tmp_path / "cache" / "cifar10").iterdir()) == ["cifar-10-batches-py"]


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("payload", ["top", "nested"])
def test_unpickler_refuses_code(cifar_dir, tmp_path, payload):
    d, _ = cifar_dir
    marker = tmp_path / "pwned"
    evil = _Evil(marker)
    with open(d / "data_batch_2", "wb") as f:
        pickle.dump(evil if payload == "top" else {"data": np.zeros((1, 3072), np.uint8), "labels": [evil]}, f)
    with pytest.raises(GankitError, match=r"data_batch_2 refers to (posix|os)\.system.*refusing"):
        load_dataset(str(d))
    assert not marker.exists()


def test_corrupt_and_malformed_batches(cifar_dir):
    d, _ = cifar_dir
    (d / "test_batch").write_bytes(b"\x80\x04garbage")
    with pytest.raises(GankitError, match="test_batch is not a readable CIFAR-10 batch"):
        load_dataset(str(d), split="test")
    with open(d / "test_batch", "wb") as f:
        pickle.dump({"data": np.zeros((2, 100), np.uint8), "labels": [0, 1]}, f)
    with pytest.raises(GankitError, match=r"uint8 \[n, 3072\]"):
        cifar.load_batch(d / "test_batch")
