"""PPL: path lengths against closed forms (constant, linear and quadratic G), the trim, and `gankit eval --metrics ppl`."""
import json

import numpy as np
import pytest
import torch
from torch import nn

from gankit.errors import GankitError
from gankit.metrics import distances
from gankit.metrics.lpips_vgg import file_sha256
from gankit.metrics.ppl import EPSILON, path_lengths, perceptual_path_length, slerp, trimmed_mean
from gankit.training import Trainer
from tests.conftest import run_cli as _run, tiny_config, tiny_images


def squared_l2(x, y):
    return (x - y).square().flatten(1).sum(1)  # [N]


class ToyStyleG(nn.Module):
    """mapping = identity (one w), synthesis = fn(w) as a [N, 1, 1, D] image."""

    c_dim, z_dim, num_ws, is_vector = 0, 4, 1, False

    def __init__(self, fn):
        super().__init__()
        self.fn = fn
        self.dummy = nn.Parameter(torch.zeros(()))

    def mapping(self, z, c=None):
        return z[:, None]  # [N, 1, z_dim]

    def synthesis(self, ws, noise_mode="const"):
        return self.fn(ws[:, 0]).double()[:, None, None]  # [N, 1, 1, D]


def _lerp(a, b, t):
    return torch.lerp(a, b, t.view(-1, *([1] * (a.ndim - 1))))


def test_path_lengths_of_constant_linear_and_quadratic_G_match_closed_forms():
    g = torch.Generator().manual_seed(0)
    w0, w1 = torch.randn(64, 4, generator=g, dtype=torch.float64), torch.randn(64, 4, generator=g, dtype=torch.float64)
    t = torch.rand(64, generator=g, dtype=torch.float64)
    delta = w1 - w0
    constant = path_lengths(lambda w: torch.ones(len(w), 1, 1, 1, dtype=torch.float64), w0, w1, t, squared_l2, _lerp)
    assert torch.all(constant == 0)
    A = torch.randn(3, 4, generator=g, dtype=torch.float64)
    linear = path_lengths(lambda w: (w @ A.T)[:, None, None], w0, w1, t, squared_l2, _lerp)
    assert torch.allclose(linear, (delta @ A.T).square().sum(1), rtol=1e-6)  # |AΔ|², the same at every t
    quadratic = path_lengths(lambda w: (3 * w.square())[:, None, None], w0, w1, t, squared_l2, _lerp)
    wt = torch.lerp(w0, w1, t[:, None])
    closed = (9 * delta.square() * (2 * wt + EPSILON * delta).square()).sum(1)  # |3((w+εΔ)² − w²)|² / ε²
    assert torch.allclose(quadratic, closed, rtol=1e-5)


def test_ppl_of_a_quadratic_G_in_w_end_is_its_expected_value():
    # G(w) = w² per dimension, t = 0: E|2 w0 ⊙ Δ|² = 4·Σ_d E[w0² (w1 − w0)²] = 4·4·(1 + 3) = 64 (trimmed slightly below)
    G = ToyStyleG(lambda w: w.square())
    result = perceptual_path_length(G, n=4000, space="w", sampling="end", seed=1, distance=squared_l2, batch_size=500)
    assert result["n"] == 4000 and result["n_kept"] >= 0.97 * 4000
    assert 0.75 * 64 < result["ppl"] < 64  # the trim drops the heavy upper tail
    again = perceptual_path_length(G, n=4000, space="w", sampling="end", seed=1, distance=squared_l2, batch_size=500)
    assert again == result  # same seed, same value
    linear = perceptual_path_length(ToyStyleG(lambda w: 2 * w), n=2000, space="w", sampling="full", seed=0,
                                    distance=squared_l2, batch_size=500)
    assert 0.85 * 32 < linear["ppl"] < 32  # |2Δ|² has mean 4·4·2 = 32


def test_trimmed_mean_drops_the_percentile_tails():
    values = np.arange(101, dtype=np.float64)  # 1st percentile 1, 99th 99
    mean, kept = trimmed_mean(values)
    assert mean == pytest.approx(50.0) and kept.min() == 1 and kept.max() == 99


def test_slerp_stays_on_the_unit_sphere():
    a, b = torch.randn(8, 5), torch.randn(8, 5)
    t = torch.rand(8)
    assert torch.allclose(slerp(a, b, t).norm(dim=1), torch.ones(8), atol=1e-5)
    assert torch.allclose(slerp(a, b, torch.zeros(8)), a / a.norm(dim=1, keepdim=True), atol=1e-5)


def test_w_space_needs_a_mapping():
    G = nn.Linear(2, 2)
    G.c_dim, G.z_dim = 0, 2
    with pytest.raises(GankitError, match="style-based"):
        perceptual_path_length(G, n=4, space="w", distance=squared_l2)


def test_cli_eval_ppl_is_stamped(monkeypatch, capsys, tmp_path):
    Trainer(tiny_config("stylegan2", steps=1), tmp_path / "sg2", data=tiny_images(resolution=8)).train()
    code, out, err = _run(monkeypatch, capsys, "eval", tmp_path / "sg2", "--metrics", "ppl,ppl_zfull", "-n", 20,
                          "--json", tmp_path / "r.json", "-q")
    assert code == 0, err
    report = json.loads((tmp_path / "r.json").read_text())["results"]
    assert report["ppl"]["values"]["ppl"] >= 0 and report["ppl_zfull"]["values"]["ppl_zfull_kept"] <= 20
    proto = report["ppl"]["protocol"]
    assert proto["space"] == "w" and proto["sampling"] == "end" and proto["epsilon"] == 1e-4
    assert proto["n_fake"] == 20 and "seed" in proto and proto["extractor"]["extractor"] == "fmnist-cnn"
    assert proto["distance"] == "fmnist-cnn"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One-step runs: stylegan2 at 16×16 grey, dcgan at 8×8 RGB, and a toy (vector) run."""
    root = tmp_path_factory.mktemp("runs")
    Trainer(tiny_config("stylegan2", steps=1), root / "sg2-16", data=tiny_images(resolution=16)).train()
    Trainer(tiny_config("dcgan", steps=1), root / "dcgan-rgb", data=tiny_images(resolution=8, channels=3, classes=0)).train()
    Trainer(tiny_config("toy-gan", steps=1), root / "toy").train()
    return root


def test_cli_eval_ppl_with_lpips_stamps_its_files(monkeypatch, capsys, runs, tmp_path, accept_lpips_files):
    vgg, lin = accept_lpips_files
    code, out, err = _run(monkeypatch, capsys, "eval", runs / "sg2-16", "--metrics", "ppl", "-n", 10,
                          "--lpips-weights", vgg, "--lpips-lin", lin, "--json", tmp_path / "r.json", "-q")
    assert code == 0, err
    proto = json.loads((tmp_path / "r.json").read_text())["results"]["ppl"]["protocol"]
    assert proto["distance"] == "lpips-vgg16" and proto["lpips"]["version"] == "0.1"
    assert proto["lpips"]["vgg16_weights_sha256"] == file_sha256(vgg) and proto["lpips"]["lin_weights_sha256"] == file_sha256(lin)


def test_cli_eval_lpips_options_give_one_line(monkeypatch, capsys, runs, lpips_files):
    vgg, lin = lpips_files  # random weights: the sha256 check refuses them
    cases = [
        ((runs / "sg2-16", "--metrics", "ppl", "--lpips-weights", vgg), "is not torchvision's VGG16"),
        ((runs / "sg2-16", "--metrics", "ppl", "--lpips-lin", lin), "--lpips-lin needs --lpips-weights"),
        ((runs / "toy", "--lpips-weights", vgg), "apply to the ppl metrics only"),
    ]
    for args, message in cases:
        code, _, err = _run(monkeypatch, capsys, "eval", *args, "-n", 10, "-q")
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, (args, err)


def test_cli_eval_ppl_of_rgb_without_effnet_uses_pixels_and_says_so(monkeypatch, capsys, runs, tmp_path):
    monkeypatch.setattr(distances, "effnet_installed", lambda: False)
    code, out, err = _run(monkeypatch, capsys, "eval", runs / "dcgan-rgb", "--metrics", "ppl_zfull", "-n", 10,
                          "--json", tmp_path / "r.json", "-q")
    assert code == 0, err
    assert "note: no perceptual distance for RGB images" in out
    proto = json.loads((tmp_path / "r.json").read_text())["results"]["ppl_zfull"]["protocol"]
    assert proto["distance"] == "pixel-mse" and "gankit[effnet]" in proto["distance_note"]
