"""Projection: recovering an image G made from a known w, the noise regulariser, the CLI and --from editing."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.config import load_config
from gankit.errors import GankitError
from gankit.metrics import distances
from gankit.metrics.distances import psnr
from gankit.metrics.lpips_vgg import file_sha256
from gankit.models import build_models, resolve_model_options
from gankit.projection import (autocorrelation_penalty, learning_rate, load_targets, noise_scale, project,
                               w_statistics)
from gankit.training import Trainer
from tests.conftest import TINY, run_cli as _run, tiny_config, tiny_images


def _tiny_G(model: str = "stylegan2"):
    cfg = load_config(model, TINY[model] + ["seed=0"])
    resolve_model_options(cfg, tiny_images(n=4, resolution=16))  # 16×16 grey, num_ws = 6
    torch.manual_seed(0)
    return build_models(cfg)[0].eval()


def _target(G, seed: int = 5):
    with torch.no_grad():
        w = G.mapping(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(seed)), None)  # [1, L, w_dim]
        return w, G.synthesis(w, noise_mode="const").clamp(-1, 1)  # [1, 1, 16, 16]


def test_schedules_follow_the_projector():
    assert learning_rate(0.0, 0.1) == 0.0 and learning_rate(0.5, 0.1) == pytest.approx(0.1)
    assert learning_rate(0.025, 0.1) == pytest.approx(0.05)  # half-way through the 5 % warm-up
    assert learning_rate(0.875, 0.1) == pytest.approx(0.05)  # cosine half-way through the last 25 %
    assert noise_scale(0.0, 2.0) == pytest.approx(0.1) and noise_scale(0.75, 2.0) == 0.0
    assert noise_scale(0.375, 2.0) == pytest.approx(0.1 * 0.25)


def test_projecting_images_of_G_brings_them_close():
    G = _tiny_G()
    w_avg, _ = w_statistics(G)
    with torch.no_grad():  # 8 known w in w_avg's basin: 0.3 of the way to mapped random z
        ws = w_avg + 0.3 * (G.mapping(torch.randn(8, G.z_dim, generator=torch.Generator().manual_seed(1)), None) - w_avg)
        targets = G.synthesis(ws, noise_mode="const").clamp(-1, 1)  # [8, 1, 16, 16]
        start = G.synthesis(w_avg[None, None].expand(1, G.num_ws, -1), noise_mode="const").clamp(-1, 1)
    base = psnr(start.expand_as(targets), targets)  # [8] where an optimiser that does not move stays
    results = project(G, targets, "w", steps=150, progress=False, regularize_noise=False)
    assert results[0].latent.shape == (G.num_ws, G.w_avg.shape[0])
    # The tiny random G makes the path chaotic (rounding, e.g. the thread count, changes where a target
    # ends; about 1 in 8 lands in a worse basin), so the test asks for gains most targets reach on any path.
    gains = torch.tensor([r.scores["psnr"] for r in results]) - base  # dB over the start
    assert (gains >= 5).sum() >= 6 and gains.median() >= 5, [round(float(g), 1) for g in gains]
    before = {n: b.clone() for n, b in G.named_buffers()}
    project(G, targets[:1], "w+", steps=2, progress=False)
    assert all(torch.equal(before[n], b) for n, b in G.named_buffers())  # G itself is left unchanged


def test_generators_without_mapping_are_projected_in_z():
    cfg = load_config("seed-gan", TINY["mlp"])
    resolve_model_options(cfg, tiny_images(n=4, resolution=8, classes=0))
    torch.manual_seed(0)
    G = build_models(cfg)[0].eval()
    with torch.no_grad():
        target = G(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(3)))  # [1, 1, 8, 8]
    result = project(G, target, None, steps=40, progress=False)[0]
    assert result.space == "z" and result.latent.shape == (G.z_dim,) and result.scores["psnr"] > 30
    with pytest.raises(GankitError, match="style-based"):
        project(G, target, "w+", steps=1, progress=False)


def test_noise_regularizer_lowers_autocorrelation():
    smooth = torch.nn.functional.avg_pool2d(torch.randn(1, 1, 19, 19, generator=torch.Generator().manual_seed(0)), 4, 1)[0, 0]
    maps = [((smooth - smooth.mean()) / smooth.std()).requires_grad_(True)]  # [16, 16], strongly correlated
    start = float(autocorrelation_penalty(maps).detach())
    opt = torch.optim.Adam(maps, lr=0.05)
    for _ in range(50):
        opt.zero_grad()
        autocorrelation_penalty(maps).backward()
        opt.step()
        with torch.no_grad():
            maps[0] -= maps[0].mean()
            maps[0] *= maps[0].square().mean().rsqrt()
    assert float(autocorrelation_penalty(maps).detach()) < 0.05 * start
    assert float(maps[0].detach().square().mean()) == pytest.approx(1.0, abs=1e-4)


def test_load_targets_converts_with_a_note_and_refuses_without_resize(tmp_path):
    Image.fromarray(np.zeros((20, 24, 3), np.uint8)).save(tmp_path / "rgb.png")
    images, notes = load_targets([tmp_path / "rgb.png"], 16, 1)
    assert images.shape == (1, 1, 16, 16) and "resized 24x20 -> 16x16" in notes[0] and "grey" in notes[0]
    with pytest.raises(GankitError, match="no-resize"):
        load_targets([tmp_path / "rgb.png"], 16, 1, resize=False)
    (tmp_path / "bad.png").write_text("not an image")
    with pytest.raises(GankitError, match="not a readable image"):
        load_targets([tmp_path / "bad.png"], 16, 1)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One-step stylegan2 and mlp (toy) runs at 8×8 / 2-D."""
    root = tmp_path_factory.mktemp("runs")
    Trainer(tiny_config("stylegan2", steps=1), root / "sg2", data=tiny_images(resolution=8)).train()
    Trainer(tiny_config("toy-gan", steps=1), root / "toy").train()
    Trainer(tiny_config("stylegan2", steps=1), root / "sg2-16", data=tiny_images(resolution=16)).train()
    Trainer(tiny_config("dcgan", steps=1), root / "dcgan-rgb", data=tiny_images(resolution=8, channels=3, classes=0)).train()
    return root


def test_cli_project_then_interpolate_and_mix_from_it(monkeypatch, capsys, runs, tmp_path):
    for k in range(2):
        arr = np.random.default_rng(k).integers(0, 256, (8, 8), dtype=np.uint8)
        Image.fromarray(arr).save(tmp_path / f"img{k}.png")
    out = tmp_path / "proj"
    code, stdout, err = _run(monkeypatch, capsys, "project", runs / "sg2", tmp_path / "img0.png", tmp_path / "img1.png",
                             "--out", out, "--steps", 3, "--space", "w+", "-q")
    assert code == 0, err
    index = json.loads((out / "projection.json").read_text())
    assert index["protocol"]["space"] == "w+" and index["protocol"]["steps"] == 3
    assert index["protocol"]["extractor"]["extractor"] == "fmnist-cnn"
    assert {"psnr", "ssim", "feature_distance"} <= set(index["images"][0])
    folder = out / index["images"][0]["folder"]
    assert {p.name for p in folder.iterdir()} == {"latent.npz", "compare.png", "optimisation.gif"}
    assert np.load(folder / "latent.npz")["ws"].shape[0] == 4  # num_ws at 8×8
    code, stdout, err = _run(monkeypatch, capsys, "interpolate", runs / "sg2", "--from", out, "--frames", 4,
                             "--out", tmp_path / "walk.gif")
    assert code == 0, err
    assert Image.open(tmp_path / "walk.gif").n_frames >= 2
    code, stdout, err = _run(monkeypatch, capsys, "mix", runs / "sg2", "--from", out, "--out", tmp_path / "mix.png")
    assert code == 0, err
    assert Image.open(tmp_path / "mix.png").size == (3 * 64 + 4 * 2 * 8, 3 * 64 + 4 * 2 * 8)  # 2 projected × 2, plus headers


def test_cli_project_bad_inputs_give_one_line(monkeypatch, capsys, runs, tmp_path):
    (tmp_path / "bad.png").write_text("not an image")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "ok.png")
    (tmp_path / "emptyrun").mkdir()
    cases = [
        ((tmp_path / "emptyrun", tmp_path / "ok.png"), "no complete checkpoint"),  # a run with no generator
        ((runs / "sg2", tmp_path / "bad.png"), "not a readable image"),
        ((runs / "sg2", tmp_path / "missing.png"), "no image or folder"),
        ((tmp_path / "norun", tmp_path / "ok.png"), "no run"),
        ((runs / "toy", tmp_path / "ok.png"), "vector"),
        ((runs / "sg2", tmp_path / "ok.png", "--space", "q"), "--space"),
        ((runs / "sg2", tmp_path / "empty"), "no image or folder"),
    ]
    for args, message in cases:
        code, _, err = _run(monkeypatch, capsys, "project", *args, "--out", tmp_path / "o", "--steps", 1, "-q")
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, (args, err)
    code, _, err = _run(monkeypatch, capsys, "interpolate", runs / "sg2", "--from", tmp_path, "--out", tmp_path / "w.gif")
    assert code == 2 and "projection.json" in err


@pytest.mark.parametrize("model, space", [("stylegan2", "w+"), ("stylegan", "w")])
def test_an_image_projection_is_independent_of_the_others_in_its_batch(model, space):
    G = _tiny_G(model)
    targets = torch.cat([_target(G, seed)[1] for seed in (5, 6, 7, 8)])  # [4, 1, 16, 16]
    first = project(G, targets[:3], space, steps=8, progress=False, batch_size=3)
    other = project(G, targets[[0, 3, 2]], space, steps=8, progress=False, batch_size=3)
    assert first[0].noise and torch.equal(first[0].latent, other[0].latent)  # image 0 does not see its neighbours
    assert all(torch.equal(first[0].noise[k], other[0].noise[k]) for k in first[0].noise)
    assert first[0].scores == other[0].scores
    assert not torch.allclose(first[0].latent, first[1].latent)  # each image its own problem
    # and its own random draws: alone it takes the same path, up to rounding that Adam amplifies a little
    alone = project(G, targets[:1], space, steps=8, progress=False, batch_size=1)[0]
    assert torch.allclose(alone.latent, first[0].latent, atol=0.05)
    assert alone.scores["psnr"] == pytest.approx(first[0].scores["psnr"], abs=0.5)


def _save_images(folder, count: int, size: int, channels: int = 1) -> list:
    paths = []
    for k in range(count):
        shape = (size, size) if channels == 1 else (size, size, 3)
        Image.fromarray(np.random.default_rng(k).integers(0, 256, shape, dtype=np.uint8)).save(folder / f"img{k}.png")
        paths.append(folder / f"img{k}.png")
    return paths


def test_cli_project_with_lpips_stamps_its_files(monkeypatch, capsys, runs, tmp_path, accept_lpips_files):
    vgg, lin = accept_lpips_files
    images = _save_images(tmp_path, 1, 16)
    code, stdout, err = _run(monkeypatch, capsys, "project", runs / "sg2-16", *images, "--out", tmp_path / "proj",
                             "--steps", 2, "--lpips-weights", vgg, "--lpips-lin", lin, "-q")
    assert code == 0, err
    index = json.loads((tmp_path / "proj" / "projection.json").read_text())
    proto = index["protocol"]
    assert proto["distance"] == "lpips-vgg16" and proto["loss"] == "lpips-vgg16 distance + pixel MSE"
    assert proto["lpips"]["vgg16_weights_sha256"] == file_sha256(vgg) and proto["lpips"]["lin_weights_sha256"] == file_sha256(lin)
    assert proto["lpips"]["version"] == "0.1" and "extractor" not in proto
    assert index["images"][0]["lpips"] >= 0 and "lpips-vgg16" in stdout


def test_cli_project_lpips_options_give_one_line(monkeypatch, capsys, runs, lpips_files, tmp_path):
    vgg, lin = lpips_files  # random weights: the sha256 check refuses them
    img16, img8 = _save_images(tmp_path, 1, 16)[0], tmp_path / "img8.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(img8)
    cases = [
        ((runs / "sg2-16", img16, "--lpips-weights", vgg), "is not torchvision's VGG16"),
        ((runs / "sg2-16", img16, "--lpips-weights", tmp_path / "missing.pth"), "no torchvision's VGG16"),
        ((runs / "sg2", img8, "--lpips-weights", vgg), "at least 16x16"),
        ((runs / "sg2-16", img16, "--lpips-lin", lin), "--lpips-lin needs --lpips-weights"),
    ]
    for args, message in cases:
        code, _, err = _run(monkeypatch, capsys, "project", *args, "--out", tmp_path / "o", "--steps", 1, "-q")
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, (args, err)


def test_cli_project_rgb_without_effnet_uses_pixels_and_says_so(monkeypatch, capsys, runs, tmp_path):
    monkeypatch.setattr(distances, "effnet_installed", lambda: False)
    images = _save_images(tmp_path, 1, 8, channels=3)
    code, stdout, err = _run(monkeypatch, capsys, "project", runs / "dcgan-rgb", *images, "--out", tmp_path / "proj",
                             "--steps", 2, "-q")
    assert code == 0, err
    assert "note: no perceptual distance for RGB images" in stdout
    index = json.loads((tmp_path / "proj" / "projection.json").read_text())
    assert index["protocol"]["distance"] == "pixel-mse" and "gankit[effnet]" in index["protocol"]["distance_note"]
    assert index["protocol"]["space"] == "z" and "feature_distance" not in index["images"][0]


def test_stylegan3_is_projected_in_w_plus_without_noise_maps():
    G = _tiny_G("stylegan3")
    with torch.no_grad():
        target = G(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(3))).clamp(-1, 1)  # [1, 1, 16, 16]
    short, longer = (project(G, target, "w+", steps=steps, progress=False)[0] for steps in (1, 40))
    assert longer.noise == {} and longer.latent.shape == (G.num_ws, G.w_avg.shape[0])
    assert longer.scores["psnr"] > short.scores["psnr"] + 3
