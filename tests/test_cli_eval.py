"""`gankit eval` end to end: a tiny trained image run, a conditional run, an image folder and a toy run."""
import json

import pytest
from PIL import Image

from gankit.data import load_dataset
from tests.conftest import TINY, run_cli as run
from tests.metrics.eval_fixtures import make_idx_data

TINY_RUN = TINY["dcgan"] + ["batch_size=8", "steps=2", "log.progress=false", "checkpoint.kimg=0", "log.sample_kimg=0", "log.sample_n=4"]




@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    return make_idx_data(tmp_path / "data")


def test_eval_a_conditional_run_with_json(monkeypatch, capsys, tmp_path, data_dir):
    run_dir = tmp_path / "run"
    code, _, err = run(monkeypatch, capsys, "train", "cdcgan", f"data={data_dir}", *TINY_RUN, "--out", run_dir)
    assert code == 0, err
    out_json = tmp_path / "report.json"
    code, out, err = run(monkeypatch, capsys, "eval", run_dir, "--metrics", "fid,pr,acc", "-n", 40,
                         "--extractor", "test-tiny", "--json", out_json, "-q")
    assert code == 0, err
    assert "floor (train vs test)" in out and "precision" in out and "acc/9" in out
    report = json.loads(out_json.read_text())
    protocol = report["results"]["fid"]["protocol"]
    assert protocol["n_fake"] == 40 and protocol["n_real"] == 60 and protocol["n_floor"] == 40
    assert protocol["split"] == "test" and protocol["seed"] == 0 and protocol["gankit_version"]
    assert protocol["extractor"]["extractor"] == "test-tiny" and "crop_resize" in protocol["extractor"]
    assert 0 <= report["results"]["acc"]["values"]["acc"] <= 1
    # the same command again reads the cache and prints the same numbers
    code, again, err = run(monkeypatch, capsys, "eval", run_dir, "--metrics", "fid,pr,acc", "-n", 40, "--extractor", "test-tiny", "-q")
    assert code == 0 and again == out.replace(f"wrote {out_json}\n", "")
    code, _, err = run(monkeypatch, capsys, "eval", run_dir, "--metrics", "fid,fidd", "--extractor", "test-tiny")
    assert code == 2 and err.count("\n") == 1 and "unknown metric 'fidd'; valid: acc, dc, " in err


def test_eval_an_image_folder_needs_data(monkeypatch, capsys, tmp_path, data_dir):
    folder = tmp_path / "pngs"
    folder.mkdir()
    for i, image in enumerate(load_dataset(data_dir, split="train").images[:30]):
        Image.fromarray(image[0].numpy()).save(folder / f"{i:03d}.png")
    code, _, err = run(monkeypatch, capsys, "eval", folder, "--metrics", "fid")
    assert code == 2 and "--data" in err
    code, out, err = run(monkeypatch, capsys, "eval", folder, "--data", data_dir, "--metrics", "fid,acc",
                         "--extractor", "test-tiny", "-q")
    assert code == 2 and "acc needs a conditional generator" in err and "class sub-folders" in err
    code, out, err = run(monkeypatch, capsys, "eval", folder, "--data", data_dir, "--metrics", "fid",
                         "--extractor", "test-tiny", "-q")
    assert code == 0, err
    assert "30 samples vs" in out and "fid" in out


def test_eval_a_toy_run_measures_modes(monkeypatch, capsys, tmp_path):
    run_dir = tmp_path / "toy"
    code, _, err = run(monkeypatch, capsys, "train", "toy-gan", *TINY["mlp"], "steps=2", "batch_size=16",
                       "log.progress=false", "log.sample_n=16", "eval.kimg=0", "--out", run_dir)
    assert code == 0, err
    code, out, err = run(monkeypatch, capsys, "eval", run_dir, "-q")
    assert code == 0, err
    assert "2,500 samples vs the modes of ring" in out and "modes_covered" in out and "reverse_kl" in out
    code, from_checkpoint, err = run(monkeypatch, capsys, "eval", run_dir / "checkpoints" / "00000002", "-q")
    assert code == 0 and from_checkpoint.splitlines()[1:] == out.splitlines()[1:]  # same numbers from the checkpoint
    code, _, err = run(monkeypatch, capsys, "eval", run_dir, "--metrics", "fid")
    assert code == 2 and "'fid' measures image samples" in err and "use modes" in err


def _trained(tmp_path, name, preset, *extra, **images):
    from gankit.training import Trainer
    from tests.conftest import tiny_config, tiny_images

    Trainer(tiny_config(preset, *extra, steps=1), tmp_path / name, data=tiny_images(**images)).train()
    return tmp_path / name


@pytest.mark.parametrize("images,misfit", [
    ({"channels": 3, "resolution": 8, "classes": 0}, "does not fit RGB 8x8 images"),
    ({"channels": 1, "resolution": 28, "classes": 2}, "does not fit 2-class images"),
])
def test_eval_refuses_the_fashion_mnist_evaluator_on_other_data(monkeypatch, capsys, tmp_path, images, misfit):
    preset = "cdcgan" if images["classes"] else "dcgan"
    run_dir = _trained(tmp_path, "run", preset, **images)
    code, out, err = run(monkeypatch, capsys, "eval", run_dir, "-n", 20, "-q")
    assert code == 2 and err.count("\n") == 1 and misfit in err and out == ""
    assert "gankit evaluator train --data" in err and "--extractor effnet-lite0" in err


def test_conditional_default_metrics_leave_out_acc_when_the_extractor_has_other_classes(monkeypatch, capsys, tmp_path, data_dir):
    run_dir = tmp_path / "run"
    code, _, err = run(monkeypatch, capsys, "train", "cdcgan", f"data={data_dir}", *TINY_RUN, "--out", run_dir)
    assert code == 0, err
    code, out, err = run(monkeypatch, capsys, "eval", run_dir, "-n", 40, "--extractor", "test-tiny",
                         "--weights", "classes=5", "-q")
    assert code == 0, err
    assert "fid" in out and "precision" in out and "acc" not in out
    code, out, err = run(monkeypatch, capsys, "eval", run_dir, "-n", 40, "--extractor", "test-tiny", "-q")
    assert code == 0 and "acc/9" in out, err  # the same classes: acc is measured by default
