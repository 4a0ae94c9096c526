"""idx reader: formats, geometry, errors, registered names (local copies, downloads, offline), real Fashion-MNIST."""
import dataclasses
import gzip
import hashlib
import struct
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch

from gankit.data import idx, load_dataset, sources
from gankit.errors import GankitError

FMNIST_DIR = Path("/usr/share/datasets/fashion-mnist")


def write_idx(path: Path, array: np.ndarray) -> Path:
    """Write a uint8 array in idx format (gzip-compressed when the name ends in .gz)."""
    data = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def make_split(directory: Path, prefix: str, n: int, gz: bool, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, n, dtype=np.uint8)
    ext = ".gz" if gz else ""
    write_idx(directory / f"{prefix}-images-idx3-ubyte{ext}", images)
    write_idx(directory / f"{prefix}-labels-idx1-ubyte{ext}", labels)
    return images, labels


@pytest.fixture
def idx_dir(tmp_path):
    d = tmp_path / "mydigits"
    d.mkdir()
    train = make_split(d, "train", 12, gz=True)
    test = make_split(d, "t10k", 5, gz=False, seed=1)
    return d, train, test


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No real data directories: $GANKIT_DATA and HOME point into tmp_path, no system dirs."""
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path / "gankit-data"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in ("fashion-mnist", "mnist", "kmnist"):
        monkeypatch.setitem(sources.SOURCES, name, dataclasses.replace(sources.SOURCES[name], system_dirs=()))
    return tmp_path


def test_directory_gz_and_raw(idx_dir):
    d, (images, labels), (test_images, test_labels) = idx_dir
    ds = load_dataset(str(d))
    assert ds.name == "mydigits" and ds.images.shape == (12, 1, 28, 28) and ds.images.dtype == torch.uint8
    assert np.array_equal(ds.images[:, 0].numpy(), images)
    assert ds.labels.dtype == torch.int64 and ds.labels.tolist() == labels.tolist()
    assert ds.num_classes == int(labels.max()) + 1 and ds.class_names is None
    test = load_dataset(str(d), split="test")
    assert np.array_equal(test.images[:, 0].numpy(), test_images) and test.labels.tolist() == test_labels.tolist()
    with pytest.raises(GankitError, match="no split 'valid'"):
        load_dataset(str(d), split="valid")


def test_pad_to_32_crops_back(idx_dir):
    d, (images, _), _ = idx_dir
    ds = load_dataset(str(d), resolution=32)
    assert ds.images.shape == (12, 1, 32, 32) and ds.resolution == 32
    assert np.array_equal(ds.images[:, 0, 2:30, 2:30].numpy(), images)
    border = ds.images.clone()
    border[:, :, 2:30, 2:30] = 0
    assert int(border.sum()) == 0


@pytest.mark.parametrize("resolution", [16, 64])
def test_other_resolutions_and_channels(idx_dir, resolution):
    d, _, _ = idx_dir
    ds = load_dataset(str(d), resolution=resolution, channels=3)
    assert ds.images.shape == (12, 3, resolution, resolution) and ds.images.dtype == torch.uint8
    assert torch.equal(ds.images[:, 0], ds.images[:, 2])
    ones = idx.fit_idx(torch.full((2, 1, 28, 28), 200, dtype=torch.uint8), resolution, 1)
    c = resolution // 2
    assert int(ones[0, 0, c, c]) == 200 and int(ones[0, 0, 0, 0]) == 0  # padded border stays black


@pytest.mark.parametrize("gz", [False, True])
def test_truncated_file_names_the_file(tmp_path, gz):
    path = write_idx(tmp_path / ("train-images-idx3-ubyte" + (".gz" if gz else "")), np.zeros((4, 28, 28), np.uint8))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 20])
    with pytest.raises(GankitError, match=r"train-images-idx3-ubyte.*(truncated|corrupt)"):
        idx.read_idx(path, 3)


def test_bad_magic_and_wrong_rank(tmp_path):
    path = tmp_path / "x-images-idx3-ubyte"
    path.write_bytes(b"\x01\x02\x08\x03" + b"\x00" * 12)
    with pytest.raises(GankitError, match="bad magic"):
        idx.read_idx(path, 3)
    write_idx(path, np.zeros(5, np.uint8))
    with pytest.raises(GankitError, match="1-d array; expected 3-d"):
        idx.read_idx(path, 3)


def test_registered_name_from_root_checks_content(tmp_path, isolated, monkeypatch):
    make_split(tmp_path, "train", 6, gz=True)
    with pytest.raises(GankitError, match=r"train-images-idx3-ubyte.gz does not hold the official data"):
        load_dataset("mnist", root=str(tmp_path), download=False)
    files = {k: dataclasses.replace(v, content_md5=None) for k, v in sources.SOURCES["mnist"].files.items()}
    monkeypatch.setitem(sources.SOURCES, "mnist", dataclasses.replace(sources.SOURCES["mnist"], files=files))
    ds = load_dataset("mnist", root=str(tmp_path), download=False)
    assert ds.name == "mnist" and ds.class_names == [str(d) for d in range(10)] and ds.num_classes == 10


def _serve(tmp_path: Path, monkeypatch, corrupt: bool = False) -> Path:
    """Fake the mnist server with file:// URLs and the right md5s (wrong ones if corrupt)."""
    server = tmp_path / "server"
    server.mkdir()
    images, _ = make_split(server, "train", 7, gz=True)
    files = {}
    for stem in sources.SOURCES["mnist"].files:
        path = server / f"{stem}.gz"
        md5 = hashlib.md5(path.read_bytes()).hexdigest() if path.exists() and not corrupt else "0" * 32
        files[stem] = sources.RemoteFile(path.as_uri(), md5)
    monkeypatch.setitem(sources.SOURCES, "mnist", dataclasses.replace(sources.SOURCES["mnist"], files=files))
    return images


def test_download_into_gankit_data(isolated, monkeypatch):
    images = _serve(isolated, monkeypatch)
    ds = load_dataset("mnist")
    assert np.array_equal(ds.images[:, 0].numpy(), images)
    target = isolated / "gankit-data" / "mnist"
    assert sorted(p.name for p in target.iterdir()) == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]
    monkeypatch.setattr(sources, "download", lambda *a: pytest.fail("downloaded twice"))
    assert len(load_dataset("mnist")) == 7


def test_download_bad_checksum(isolated, monkeypatch):
    _serve(isolated, monkeypatch, corrupt=True)
    with pytest.raises(GankitError, match="checksum mismatch for train-images-idx3-ubyte.gz"):
        load_dataset("mnist")
    assert list((isolated / "gankit-data" / "mnist").iterdir()) == []  # no partial file left


def test_offline_missing_says_how_to_get_it(isolated, monkeypatch):
    def offline(*args):
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(sources, "download", offline)
    with pytest.raises(GankitError) as err:
        load_dataset("fashion-mnist")
    message = str(err.value)
    assert "fashion-mnist not found" in message and "network is unreachable" in message
    assert "apt-get install dataset-fashion-mnist" in message and "$GANKIT_DATA/fashion-mnist" in message
    with pytest.raises(GankitError, match=r"kmnist not found .* download=False; to get kmnist: download"):
        load_dataset("kmnist", download=False, split="test")


@pytest.mark.skipif(not (FMNIST_DIR / "train-images-idx3-ubyte.gz").exists(), reason="no dataset-fashion-mnist")
def test_real_fashion_mnist():
    files = sources.SOURCES["fashion-mnist"].files
    for stem, remote in files.items():
        assert hashlib.md5(idx.read_bytes(FMNIST_DIR / f"{stem}.gz")).hexdigest() == remote.content_md5
    train = load_dataset("fashion-mnist", root=str(FMNIST_DIR))
    assert train.images.shape == (60000, 1, 28, 28) and train.images.dtype == torch.uint8
    assert train.num_classes == 10 and train.class_names[0] == "T-shirt/top" and train.class_names[9] == "Ankle boot"
    assert torch.equal(torch.bincount(train.labels), torch.full((10,), 6000))
    test = load_dataset("fashion-mnist", split="test", root=str(FMNIST_DIR))
    assert test.images.shape == (10000, 1, 28, 28) and test.labels.shape == (10000,)
