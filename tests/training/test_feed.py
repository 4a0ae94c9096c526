"""Training data: paths stored absolute, a batch larger than the data refused up front, the run's data record."""
import json

import numpy as np
import pytest
from PIL import Image

from gankit.config import load_config
from gankit.errors import GankitError
from gankit.training import Trainer
from gankit.training.feed import check_batch_fits, load_training_data, write_data_record
from tests.conftest import TINY, tiny_images


def _folder(root, counts=(3, 2)):
    rng = np.random.default_rng(0)
    for name, count in zip(("cats", "dogs"), counts):
        (root / name).mkdir(parents=True)
        for i in range(count):
            Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(root / name / f"{i}.png")
    return root


def test_relative_data_path_is_stored_absolute(tmp_path, monkeypatch):
    _folder(tmp_path / "pets")
    monkeypatch.chdir(tmp_path)
    cfg = load_config("dcgan", ["data=pets", "steps=1"])
    data = load_training_data(cfg)
    assert cfg.data == str(tmp_path.resolve() / "pets") and len(data) == 5 and data.class_names == ["cats", "dogs"]


def test_a_batch_larger_than_the_data_is_refused_before_a_run_folder_exists(tmp_path):
    cfg = load_config("dcgan", TINY["dcgan"] + ["steps=1", "batch_size=8"])
    with pytest.raises(GankitError, match="batch_size 8 is larger than the 5 images of tiny; use batch_size=5"):
        Trainer(cfg, tmp_path / "run", data=tiny_images(n=5))
    assert not (tmp_path / "run").exists()
    grown = load_config("progan", ["steps=1", "batch_size=4", "growth.batch_sizes={4: 16}"])
    with pytest.raises(GankitError, match="batch_size 16"):
        check_batch_fits(tiny_images(n=8), grown)


def test_data_record_holds_the_class_map_and_skipped_files(tmp_path):
    root = _folder(tmp_path / "pets")
    (root / "dogs" / "bad.png").write_bytes(b"nope")
    cfg = load_config("dcgan", [f"data={root}", "skip_bad=true"])
    data = load_training_data(cfg)
    write_data_record(tmp_path, data)
    assert json.loads((tmp_path / "classes.json").read_text()) == {"dataset": "pets", "classes": ["cats", "dogs"]}
    skipped = (tmp_path / "skipped.txt").read_text().splitlines()
    assert skipped[0].startswith(f"# files of pets left out while loading (image folder {root.resolve()}")
    assert skipped[1].startswith("dogs/bad.png\tunreadable")
    unlabelled = tmp_path / "u"
    unlabelled.mkdir()
    write_data_record(unlabelled, tiny_images(classes=0))
    assert list(unlabelled.iterdir()) == []
