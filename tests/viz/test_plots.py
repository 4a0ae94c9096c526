"""Scatter/histogram and loss plots write real PNGs; bad shapes raise clear errors."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.viz.plots import plot_losses, save_scatter


def _assert_png(path):
    assert path.is_file() and path.stat().st_size > 1000
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size[0] > 100 and im.size[1] > 100


def test_scatter_2d_with_reference_and_bounds(tmp_path):
    rng = np.random.default_rng(0)
    fake = torch.randn(300, 2)
    real = rng.normal(size=(300, 2))
    path = save_scatter(fake, tmp_path / "sub" / "ring.png", reference=real, title="ring", bounds=(-4, 4))
    _assert_png(path)
    _assert_png(save_scatter(fake.numpy(), tmp_path / "b.png", bounds=((-3, 3), (-2, 2))))


def test_scatter_1d_histograms(tmp_path):
    rng = np.random.default_rng(1)
    real = np.concatenate([rng.normal(2, 1, 500), rng.normal(8, 1, 500)])
    _assert_png(save_scatter(rng.normal(2, 1, 800), tmp_path / "h.png", reference=real))
    _assert_png(save_scatter(torch.randn(100, 1), tmp_path / "h1.png", bounds=(-5, 5)))


def test_scatter_rejects_bad_shapes(tmp_path):
    with pytest.raises(ValueError, match=r"\[N, 2\]"):
        save_scatter(np.zeros((4, 2, 2)), tmp_path / "x.png")
    with pytest.raises(ValueError, match="2-D"):
        save_scatter(np.zeros((10, 5)), tmp_path / "x.png")
    with pytest.raises(ValueError, match="reference"):
        save_scatter(np.zeros((10, 2)), tmp_path / "x.png", reference=np.zeros(10))


def test_plot_losses_from_records_and_jsonl(tmp_path):
    records = [
        {"kimg": 0.064 * i, "step": i, "loss/D": 1.0 / (i + 1), "loss/G": 0.5 + 0.01 * i,
         "loss/gp": float("nan") if i == 3 else 0.1, "lr": 2e-4, "note": "x"}
        for i in range(20)
    ]
    _assert_png(plot_losses(records, tmp_path / "losses.png"))
    log = tmp_path / "run" / "log.jsonl"
    log.parent.mkdir()
    text = "\n".join(json.dumps(r) for r in records) + '\n{"kimg": 1.3, "loss/D'  # half-written last line
    log.write_text(text)
    _assert_png(plot_losses(log, tmp_path / "from_file.png", x_key="step"))
    _assert_png(plot_losses(str(log), tmp_path / "from_str.png"))


def test_plot_losses_without_losses_raises(tmp_path):
    with pytest.raises(ValueError, match="loss/"):
        plot_losses([{"kimg": 1.0, "lr": 0.1}], tmp_path / "x.png")
    with pytest.raises(FileNotFoundError):
        plot_losses(tmp_path / "missing.jsonl", tmp_path / "x.png")


def test_scatter_draws_the_real_modes(tmp_path):
    modes = np.array([[2.0, 0.0], [-2.0, 0.0]])
    plain = np.asarray(Image.open(save_scatter(torch.zeros(10, 2), tmp_path / "a.png", bounds=(-3, 3))).convert("RGB"))
    marked = np.asarray(Image.open(save_scatter(torch.zeros(10, 2), tmp_path / "b.png", bounds=(-3, 3), modes=modes)).convert("RGB"))
    black = lambda a: int((a.sum(-1) < 60).sum())  # noqa: E731  (mode crosses and legend text are black)
    assert black(marked) > black(plain) + 50
    _assert_png(save_scatter(torch.randn(50, 1), tmp_path / "h.png", modes=[[0.0], [3.0]]))
    with pytest.raises(ValueError, match="modes"):
        save_scatter(np.zeros((10, 2)), tmp_path / "x.png", modes=np.zeros((2, 1)))


def test_loss_plot_of_a_short_run_is_readable(tmp_path):
    from gankit.viz.plots import loss_figure

    one = [{"step": 5, "kimg": 0.32, "loss/D": 1.3, "loss/G": 0.7}]  # a 5-step run logs once, at the end
    fig = loss_figure(one)
    lines = fig.axes[0].lines
    assert len(lines) == 2 and all(line.get_marker() == "o" and len(line.get_xdata()) == 1 for line in lines)
    assert fig.axes[0].get_xlabel() == "step"
    long = [{"step": i, "kimg": i / 10, "loss/D": 1.0} for i in range(200)]
    assert loss_figure(long).axes[0].lines[0].get_marker() in ("None", "", None)
    _assert_png(plot_losses(one, tmp_path / "one.png"))
