"""The class map of a run: saved beside the config, read from a run or its checkpoint, names to indices."""
import pytest

from gankit.errors import GankitError
from gankit.runs.classes import class_index, load_class_map, save_class_map


def test_class_names_to_indices(tmp_path):
    names = ["T-shirt/top", "Trouser", "Sneaker"]
    save_class_map(tmp_path, names, "fashion-mnist")
    checkpoint = tmp_path / "checkpoints" / "00000002"
    checkpoint.mkdir(parents=True)
    (checkpoint / "manifest.json").write_text("{}")
    assert load_class_map(tmp_path) == names and load_class_map(checkpoint) == names
    assert class_index(tmp_path, "sneaker", 3) == 2 and class_index(checkpoint, "Trouser", 3) == 1
    assert class_index(tmp_path, "0", 3) == 0
    with pytest.raises(GankitError, match="'boot' is not a class of this run; classes: T-shirt/top, Trouser, Sneaker"):
        class_index(tmp_path, "boot", 3)
    with pytest.raises(GankitError, match=r"out of range: this generator has classes 0..2 \(T-shirt/top"):
        class_index(tmp_path, "3", 3)


def test_a_run_without_names_takes_indices(tmp_path):
    assert load_class_map(tmp_path) is None and class_index(tmp_path, "1", 2) == 1
    with pytest.raises(GankitError, match="saved no class names"):
        class_index(tmp_path, "cat", 2)
