"""The command line: train / sample / info smoke runs and every bad-input case (exit 2, one line)."""
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.conftest import run_cli as run

TINY_DCGAN = ["data=digits", "G.base_channels=4", "D.base_channels=4", "G.z_dim=8", "batch_size=16",
              "log.progress=false", "log.sample_n=16"]




def test_train_sample_resume(monkeypatch, capsys, tmp_path):
    run_dir = tmp_path / "run"
    code, out, err = run(monkeypatch, capsys, "train", "cdcgan", *TINY_DCGAN, "steps=3", "--out", run_dir)
    assert code == 0, err
    assert "done: 3 steps" in out
    for name in ("config.yaml", "log.jsonl", "loss.png", "summary.md", "checkpoints/latest"):
        assert (run_dir / name).exists(), name
    summary = (run_dir / "summary.md").read_text()
    assert "# gankit run: dcgan on digits" in summary and "- device: cpu; 1 process" in summary
    code, out, err = run(monkeypatch, capsys, "sample", run_dir, "-n", 6, "--class", 3, "--out", tmp_path / "s.png", "--npy")
    assert code == 0, err
    assert np.load(tmp_path / "s.npy").shape == (6, 1, 8, 8)
    assert Image.open(tmp_path / "s.png").size[0] > 0
    code, out, err = run(monkeypatch, capsys, "train", "--resume", run_dir, "steps=5")
    assert code == 0 and "resuming" in out and "done: 5 steps" in out, err
    code, _, err = run(monkeypatch, capsys, "train", "cdcgan", *TINY_DCGAN, "steps=3", "--out", run_dir)
    assert code == 2 and "--resume" in err


def test_toy_run_writes_scatter_and_npy(monkeypatch, capsys, tmp_path):
    code, _, err = run(monkeypatch, capsys, "train", "toy-gan", "steps=5", "batch_size=32", "log.sample_n=50",
                       "log.progress=false", "--out", tmp_path / "toy")
    assert code == 0, err
    assert (tmp_path / "toy" / "samples" / "00000005.npy").exists()
    code, _, err = run(monkeypatch, capsys, "sample", tmp_path / "toy", "-n", 10, "--out", tmp_path / "t.png", "--npy")
    assert code == 0, err
    assert np.load(tmp_path / "t.npy").shape == (10, 2)


def test_info(monkeypatch, capsys):
    code, out, _ = run(monkeypatch, capsys, "info")
    assert code == 0 and "seed-wgan" in out and "wasserstein" in out and "fashion-mnist" in out
    code, out, _ = run(monkeypatch, capsys, "info", "--config", "seed-gan", "steps=3")
    assert code == 0 and "steps: 3" in out and "bn_eps: 0.8" in out and "# stop after N generator steps" in out
    assert "§2.1 networks, §2.3 loop" in out and "\\xA7" not in out  # not YAML's escape of §
    assert "\n  z_dim: 100  # latent size\n" in out  # G's options one per line, with their help
    assert "\n  norm_first: false  # the seed's first block has no BatchNorm\n" in out
    assert "\n  pack: 1  # PacGAN (Lin et al. 2018)" in out  # D's, base-class options included


@pytest.mark.parametrize("args,message", [
    (["train", "nope"], "unknown preset or config 'nope'"),
    (["train", "dcgan", "wat=1"], "unknown config key 'wat'"),
    (["train", "dcgan", "data=/no/such/dir", "steps=1"], "data path '/no/such/dir' does not exist"),
    (["train", "dcgan", "data=digits"], None),  # placeholder replaced below
    (["sample", "/no/such/run"], "no run or checkpoint"),
    (["train", "dcgan", "steps=1", "data=digits", "resolution=30"], "resolution of 4"),
])
def test_bad_input_exits_2_with_one_line(monkeypatch, capsys, tmp_path, args, message):
    if message is None:  # --class on an unconditional run
        run(monkeypatch, capsys, "train", "dcgan", *TINY_DCGAN, "steps=1", "--out", tmp_path / "u")
        args, message = ["sample", tmp_path / "u", "--class", "1"], "needs a conditional generator"
    code, _, err = run(monkeypatch, capsys, *args)
    assert code == 2
    assert err.startswith("error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_python_dash_m_and_exit_code():
    result = subprocess.run([sys.executable, "-m", "gankit", "train", "nope"], capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.startswith("error: unknown preset") and "Traceback" not in result.stderr


def _pets(root, per_class=6):
    rng = np.random.default_rng(0)
    for name in ("cats", "dogs"):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(root / name / f"{i}.png")
    (root / "dogs" / "notes.txt").write_text("not an image")
    return root


def test_a_folder_run_explains_its_data(monkeypatch, capsys, tmp_path):
    _pets(tmp_path / "pets")
    monkeypatch.chdir(tmp_path)
    tiny = [a for a in TINY_DCGAN if not a.startswith(("data=", "batch_size="))]
    code, out, err = run(monkeypatch, capsys, "train", "cdcgan", "data=pets", *tiny, "batch_size=32", "steps=1",
                         "--out", "small")
    assert code == 2 and "batch_size 32 is larger than the 12 images of pets" in err and "training" not in out
    assert not (tmp_path / "small").exists()
    code, out, err = run(monkeypatch, capsys, "train", "cdcgan", "data=pets", *tiny, "batch_size=4", "steps=2",
                         "--out", "run")
    assert code == 0, err
    assert "gankit: data pets: 12 images, 8x8 grey, 2 classes (cats, dogs)" in err and "1 not an image (.txt)" in err
    run_dir = tmp_path / "run"
    summary = (run_dir / "summary.md").read_text()
    assert "# gankit run: dcgan on pets" in summary and "- data: pets: 12 images" in summary
    assert "samples of dcgan trained on pets" in summary and "this run trained on pets" in summary
    assert (run_dir / "classes.json").exists()
    code, _, err = run(monkeypatch, capsys, "sample", run_dir, "-n", 4, "--class", "Dogs", "--out", tmp_path / "d.png")
    assert code == 0, err
    code, _, err = run(monkeypatch, capsys, "sample", run_dir, "-n", 4, "--class", "horse", "--out", tmp_path / "h.png")
    assert code == 2 and "classes: cats, dogs" in err
    monkeypatch.chdir(tmp_path / "pets")  # the stored data path is absolute: resume works from anywhere
    code, out, err = run(monkeypatch, capsys, "train", "--resume", run_dir, "steps=3")
    assert code == 0 and "done: 3 steps" in out, err


def test_toy_sample_plot_draws_the_real_modes(monkeypatch, capsys, tmp_path):
    import gankit.viz

    seen = {}
    monkeypatch.setattr(gankit.viz, "save_scatter", lambda points, out, **kw: seen.update(kw))
    code, _, err = run(monkeypatch, capsys, "train", "toy-gan", "steps=1", "batch_size=16", "log.progress=false",
                       "log.sample_n=16", "--out", tmp_path / "toy")
    assert code == 0, err
    code, _, err = run(monkeypatch, capsys, "sample", tmp_path / "toy", "-n", 10, "--out", tmp_path / "t.png")
    assert code == 0, err
    assert seen["modes"].shape == (8, 2) and "on ring" in seen["title"]
