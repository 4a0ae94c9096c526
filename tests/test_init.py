"""The Python API: gankit.train's keyword and string overrides, its default run folder, and clear misuse errors."""
import pytest
import torch

import gankit
from gankit.errors import GankitError
from tests.conftest import tiny_images

SMALL = {"G": {"base_channels": 4, "z_dim": 8}, "D": {"base_channels": 4}, "batch_size": 8, "log": {"progress": False}}


def test_keyword_overrides_and_a_default_run_folder_that_is_announced(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    trainer = gankit.train("dcgan", steps=2, data=tiny_images(), optim={"G": {"lr": 1e-4}}, **SMALL)
    assert trainer.state.step == 2 and trainer.cfg.optim.G.lr == 1e-4 and trainer.cfg.G["base_channels"] == 4
    said = capsys.readouterr().out
    assert said.startswith("gankit: training into runs/dcgan-") and trainer.run_dir.parent == gankit.Path("runs")
    assert (tmp_path / trainer.run_dir / "checkpoints").is_dir()


def test_a_string_of_overrides(tmp_path):
    trainer = gankit.train("dcgan", out=tmp_path / "run", data=tiny_images(),
                           overrides="steps=1 batch_size=8 G.base_channels=4 D.base_channels=4 log.progress=false")
    assert trainer.state.step == 1 and trainer.cfg.batch_size == 8


def test_a_run_folder_is_never_overwritten(tmp_path):
    gankit.train("dcgan", out=tmp_path / "run", data=tiny_images(), steps=1, **SMALL)
    with pytest.raises(GankitError, match="already holds a run"):
        gankit.train("dcgan", out=tmp_path / "run", data=tiny_images(), steps=1, **SMALL)


def test_a_conditional_generator_without_labels_is_one_clear_error(tmp_path):
    trainer = gankit.train("cdcgan", out=tmp_path / "run", data=tiny_images(), steps=1, **SMALL)
    G = gankit.load(trainer.run_dir)
    with pytest.raises(GankitError, match=r"conditional \(c_dim=10\): pass labels c, one-hot \[N, 10\]"):
        G(torch.randn(2, G.z_dim))
    assert G(torch.randn(2, G.z_dim), torch.eye(10)[:2]).shape == (2, 1, 8, 8)
    assert G.sample(3).shape == (3, 1, 8, 8)  # sample cycles the classes itself
