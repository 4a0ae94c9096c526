"""Image folders: class sub-folders, dataset.json labels, mixed sizes and modes, resize + centre crop, errors."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.data import load_dataset
from gankit.data.folder import fit_image
from gankit.errors import GankitError


def _save(path, array, mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode).save(path)


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "pets"
    _save(root / "cats" / "a.png", rng.integers(0, 256, (30, 20, 3), dtype=np.uint8))
    _save(root / "cats" / "b.jpg", rng.integers(0, 256, (40, 40, 3), dtype=np.uint8))
    _save(root / "dogs" / "deep" / "c.png", rng.integers(0, 256, (16, 16), dtype=np.uint8))  # grayscale
    _save(root / "dogs" / "d.webp", rng.integers(0, 256, (24, 24, 3), dtype=np.uint8))
    (root / "dogs" / "notes.txt").write_text("not an image")
    (root / "empty").mkdir()
    return root


def test_class_folders_and_labels(folder):
    ds = load_dataset(str(folder), resolution=12)
    assert ds.name == "pets" and ds.images.shape == (4, 3, 12, 12) and ds.images.dtype == torch.uint8
    assert ds.class_names == ["cats", "dogs"] and ds.num_classes == 2
    assert ds.labels.tolist() == [0, 0, 1, 1]
    grey = load_dataset(str(folder), resolution=12, channels=1)
    assert grey.images.shape == (4, 1, 12, 12)


def test_mixed_sizes_need_resolution(folder):
    with pytest.raises(GankitError, match="resolution="):
        load_dataset(str(folder))


def test_unlabelled_native_size_and_grey_inference(tmp_path):
    rng = np.random.default_rng(1)
    for i in range(3):
        _save(tmp_path / "flat" / f"{i}.png", rng.integers(0, 256, (8, 8), dtype=np.uint8))
    ds = load_dataset(str(tmp_path / "flat"))
    assert ds.images.shape == (3, 1, 8, 8) and ds.labels is None and ds.num_classes == 0 and ds.class_names is None
    assert np.array_equal(ds.images[2, 0].numpy(), np.asarray(Image.open(tmp_path / "flat" / "2.png")))
    assert load_dataset(str(tmp_path / "flat"), channels=3).images.shape == (3, 3, 8, 8)
    with pytest.raises(GankitError, match="no split 'test'"):
        load_dataset(str(tmp_path / "flat"), split="test")


def test_centre_crop_and_resize():
    wide = np.random.default_rng(2).integers(0, 256, (10, 20, 3), dtype=np.uint8)  # H 10, W 20
    assert np.array_equal(fit_image(Image.fromarray(wide), 10, 3), wide[:, 5:15])  # shorter side already 10
    big = np.kron(wide, np.ones((2, 2, 1), np.uint8))  # 20 x 40, each pixel doubled
    out = fit_image(Image.fromarray(big), 10, 3)
    expected = np.asarray(Image.fromarray(big).resize((20, 10), Image.Resampling.LANCZOS))[:, 5:15]
    assert out.shape == (10, 10, 3) and np.array_equal(out, expected)
    assert fit_image(Image.fromarray(wide), 10, 1).shape == (10, 10, 1)


def test_bad_layouts_and_files(folder):
    (folder / "cats" / "broken.png").write_bytes(b"definitely not a png")
    with pytest.raises(GankitError, match=r"cannot be read: cats/broken\.png"):
        load_dataset(str(folder), resolution=8)
    (folder / "cats" / "broken.png").unlink()
    _save(folder / "loose.png", np.zeros((8, 8), np.uint8))
    with pytest.raises(GankitError, match="loose images"):
        load_dataset(str(folder), resolution=8)
    with pytest.raises(GankitError, match="no images"):
        load_dataset(str(folder / "empty"))


def test_every_unreadable_file_is_reported_at_once(folder):
    (folder / "cats" / "broken.png").write_bytes(b"definitely not a png")
    good = folder / "dogs" / "d.webp"
    (folder / "dogs" / "truncated.png").write_bytes((folder / "cats" / "a.png").read_bytes()[:60])
    with pytest.raises(GankitError) as err:
        load_dataset(str(folder), resolution=8)
    message = str(err.value)
    assert message.startswith("2 of 6 image files") and "cats/broken.png" in message
    assert "dogs/truncated.png" in message and "skip_bad=true" in message and "\n" not in message
    ds = load_dataset(str(folder), resolution=8, skip_bad=True)
    assert len(ds) == 4 and ds.labels.tolist() == [0, 0, 1, 1] and good.exists()
    reasons = dict(ds.skipped)
    assert reasons["cats/broken.png"].startswith("unreadable") and reasons["dogs/truncated.png"].startswith("unreadable")
    assert reasons["dogs/notes.txt"] == "not an image (.txt)"


def test_loading_a_folder_prints_one_line(folder, capsys):
    (folder / ".DS_Store").write_bytes(b"x")
    ds = load_dataset(str(folder), resolution=12)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("gankit: data pets: 4 images, 12x12 RGB, 2 classes (cats, dogs)")
    assert f"image folder {folder.resolve()}" in err and "labels from class sub-folders" in err
    assert "skipped 2 files (1 hidden, 1 not an image (.txt))" in err
    assert ds.describe() in err


def test_dataset_json_labels_in_a_folder(tmp_path):
    root = tmp_path / "tool"
    rng = np.random.default_rng(3)
    for i, label in enumerate([2, 0, 2]):
        _save(root / "00000" / f"img{i:08d}.png", rng.integers(0, 256, (8, 8), dtype=np.uint8))
    pairs = [[f"00000/img{i:08d}.png", label] for i, label in enumerate([2, 0, 2])]
    (root / "dataset.json").write_text(json.dumps({"labels": pairs}))
    ds = load_dataset(str(root))
    assert ds.labels.tolist() == [2, 0, 2] and ds.num_classes == 3 and ds.class_names == ["0", "1", "2"]
    assert "labels from dataset.json" in ds.describe() and not ds.skipped
    (root / "dataset.json").write_text(json.dumps({"labels": None}))
    assert load_dataset(str(root)).labels is None  # dataset_tool's unlabelled archive: not 1 class "00000"
    (root / "dataset.json").write_text(json.dumps({"labels": pairs[:2]}))
    with pytest.raises(GankitError, match="no label for 1 of 3 images"):
        load_dataset(str(root))
    (root / "dataset.json").write_text(json.dumps({"labels": [[n, [0.5, 1.0]] for n, _ in pairs]}))
    with pytest.raises(GankitError, match="not label vectors"):
        load_dataset(str(root))
