"""load_dataset dispatch: registered names, paths, and the errors for neither."""
import pytest
import torch
from PIL import Image

from gankit.data import ImageDataset, load_dataset
from gankit.errors import GankitError
from gankit.registry import DATASETS

NAMES = ["bimodal", "cifar10", "digits", "fashion-mnist", "grid", "kmnist", "mnist", "ring"]


def test_registered_names():
    assert all(name in DATASETS for name in NAMES)


@pytest.mark.parametrize("spec", ["no-such-dataset", "/no/such/dir"])
def test_unknown_lists_names_and_paths(spec):
    with pytest.raises(GankitError) as err:
        load_dataset(spec)
    message = str(err.value)
    assert repr(spec) in message and all(name in message for name in NAMES) and "path" in message


def test_bad_options():
    with pytest.raises(GankitError, match="channels must be 1 or 3"):
        load_dataset("digits", channels=2)
    with pytest.raises(GankitError, match="resolution must be a positive integer"):
        load_dataset("digits", resolution=0)


def test_path_object_accepted(tmp_path):
    (tmp_path / "imgs").mkdir()
    Image.new("RGB", (4, 4), (255, 0, 0)).save(tmp_path / "imgs" / "x.png")
    ds = load_dataset(tmp_path / "imgs")
    assert isinstance(ds, ImageDataset) and ds.images.shape == (1, 3, 4, 4)
    x, y = ds.get(torch.tensor([0]))
    assert y is None and x[0, 0].eq(1).all() and x[0, 1].eq(-1).all()


def test_missing_path_and_unsupported_file_type(tmp_path):
    with pytest.raises(GankitError, match=r"data path '.*nowhere' does not exist"):
        load_dataset(str(tmp_path / "nowhere"))
    with pytest.raises(GankitError, match="data path './pets' does not exist"):
        load_dataset("./pets")
    (tmp_path / "images.tar.gz").write_bytes(b"x")
    with pytest.raises(GankitError, match=r"unsupported data file type '\.gz'.*\.zip of images"):
        load_dataset(tmp_path / "images.tar.gz")
    (tmp_path / "dataset.json").write_text("{}")
    with pytest.raises(GankitError, match="folder or zip that holds dataset.json"):
        load_dataset(tmp_path / "dataset.json")


def test_resolve_data_spec(tmp_path, monkeypatch):
    from gankit.data import resolve_data_spec

    (tmp_path / "imgs").mkdir()
    monkeypatch.chdir(tmp_path)
    assert resolve_data_spec("imgs") == str(tmp_path.resolve() / "imgs")
    assert resolve_data_spec("digits") == "digits" and resolve_data_spec("missing") == "missing"
