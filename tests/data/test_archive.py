"""Zip archives: dataset_tool's layout with dataset.json labels, a zipped class folder, bad members."""
import io
import json
import zipfile

import numpy as np
import pytest
from PIL import Image

from gankit.data import load_dataset
from gankit.errors import GankitError


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def test_dataset_tool_zip_with_labels(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "cifar-like.zip"
    labels = [6, 9, 6, 1]
    with zipfile.ZipFile(path, "w") as z:
        for i in range(4):
            z.writestr(f"00000/img{i:08d}.png", _png(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)))
        z.writestr("dataset.json", json.dumps({"labels": [[f"00000/img{i:08d}.png", k] for i, k in enumerate(labels)]}))
    ds = load_dataset(path)
    assert ds.name == "cifar-like" and ds.images.shape == (4, 3, 8, 8)
    assert ds.labels.tolist() == labels and ds.num_classes == 10
    with zipfile.ZipFile(path) as z:
        first = np.asarray(Image.open(io.BytesIO(z.read("00000/img00000000.png"))))
    assert np.array_equal(ds.images[0].permute(1, 2, 0).numpy(), first)
    assert f"zip archive {path.resolve()}, labels from dataset.json" in ds.describe()


def test_zipped_class_folder_and_bad_members(tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "pets.zip"
    with zipfile.ZipFile(path, "w") as z:
        for name in ("pets/cats/a.png", "pets/cats/b.png", "pets/dogs/c.png"):
            z.writestr(name, _png(rng.integers(0, 256, (8, 8), dtype=np.uint8)))
        z.writestr("pets/dogs/bad.png", b"not a png")
        z.writestr("pets/readme.md", b"hello")
    with pytest.raises(GankitError, match=r"1 of 4 image files in zip archive .* cannot be read: dogs/bad\.png"):
        load_dataset(path)
    ds = load_dataset(path, skip_bad=True)
    assert ds.class_names == ["cats", "dogs"] and ds.labels.tolist() == [0, 0, 1] and ds.channels == 1
    assert [name for name, _ in ds.skipped] == ["readme.md", "dogs/bad.png"]


def test_not_a_zip(tmp_path):
    (tmp_path / "fake.zip").write_bytes(b"nope")
    with pytest.raises(GankitError, match="not a readable zip archive"):
        load_dataset(tmp_path / "fake.zip")
