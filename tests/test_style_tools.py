"""Style tools: mixing grid, latent walks, truncation — the maths on a tiny G and the CLI on tiny runs."""

import pytest
import torch
from PIL import Image

from gankit.config import load_config
from gankit.errors import GankitError
from gankit.models import build_models, resolve_model_options
from gankit.tools import interpolation_frames, level_slice, level_text, mix_grid, slerp, truncation_grid
from gankit.training import Trainer
from tests.conftest import TINY, run_cli as _run, tiny_config, tiny_images




@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A one-step stylegan2 run and a one-step dcgan run (8×8)."""
    root = tmp_path_factory.mktemp("runs")
    data = tiny_images(resolution=8)
    for model in ("stylegan2", "dcgan"):
        Trainer(tiny_config(model, steps=1), root / model, data=data).train()
    return root


def _tiny_G():
    cfg = load_config("stylegan2", TINY["stylegan2"])
    resolve_model_options(cfg, tiny_images(n=4, resolution=16))  # num_ws = 6
    return build_models(cfg)[0].eval()


def test_levels_are_thirds_of_num_ws():
    assert [level_slice(lv, 18) for lv in ("coarse", "middle", "fine")] == [slice(0, 6), slice(6, 12), slice(12, 18)]
    assert [level_slice(lv, 8) for lv in ("coarse", "middle", "fine")] == [slice(0, 3), slice(3, 5), slice(5, 8)]
    with pytest.raises(GankitError, match="levels"):
        level_slice("all", 8)


def test_level_text_names_the_w_layers():
    assert level_text("coarse", 18) == "coarse styles = ws 0-5 of 0-17"
    assert level_text("middle", 8) == "middle styles = ws 3-4 of 0-7"
    assert level_text("middle", 2) == "middle styles = no w layer (this generator has only 2)"


def test_mix_grid_cells_use_b_styles_at_the_level():
    G = _tiny_G()
    grid = mix_grid(G, rows=2, cols=3, level="middle", seed=0)
    assert grid.shape == (12, 1, 16, 16) and torch.all(grid[0] == -1)  # blank corner
    z_a, _ = G.latents(2, 0)
    z_b, _ = G.latents(3, 1000)
    ws = G.mapping(z_a[1:2]).clone()
    ws[:, 2:4] = G.mapping(z_b[2:3])[:, 2:4]  # middle third of 6 ws
    cell = G.synthesis(ws, noise_mode="const").clamp(-1, 1)  # row 2 (A₁), column 3 (B₂)
    assert torch.allclose(grid[2 * 4 + 3], cell[0], atol=1e-5)
    assert torch.allclose(grid[3], G.synthesis(G.mapping(z_b[2:3]), noise_mode="const").clamp(-1, 1)[0], atol=1e-5)


def test_slerp_endpoints_and_norm():
    a, b = torch.randn(4, 16), torch.randn(4, 16)
    b = b / b.norm(dim=1, keepdim=True) * a.norm(dim=1, keepdim=True)
    assert torch.allclose(slerp(a, b, 0.0), a, atol=1e-5) and torch.allclose(slerp(a, b, 1.0), b, atol=1e-5)
    assert torch.allclose(slerp(a, b, 0.3).norm(dim=1), a.norm(dim=1), atol=1e-4)  # stays on the sphere
    assert torch.allclose(slerp(a, a, 0.5), a, atol=1e-5)


def test_w_walk_is_linear_and_truncation_rows_shrink_to_the_mean():
    G = _tiny_G()
    frames = interpolation_frames(G, "w", frames=3, n=2, seed=0)
    z0, _ = G.latents(2, 0)
    z1, _ = G.latents(2, 1)
    mid = G.synthesis(0.5 * (G.mapping(z0) + G.mapping(z1)), noise_mode="const").clamp(-1, 1)
    assert len(frames) == 3 and torch.allclose(frames[1], mid, atol=1e-5)
    rows = truncation_grid(G, [1.0, 0.0], n=3, seed=0)
    assert rows.shape == (6, 1, 16, 16)
    assert torch.allclose(rows[3], rows[5], atol=1e-6)  # psi = 0: every latent renders w_avg


def test_cli_mix_interpolate_and_truncation(monkeypatch, capsys, runs, tmp_path):
    sg2 = runs / "stylegan2"
    code, out, err = _run(monkeypatch, capsys, "mix", sg2, "--rows", 2, "--cols", 3, "--levels", "fine", "--out", tmp_path / "mix.png")
    assert code == 0, err
    assert "fine styles = ws 3 of 0-3" in out and "slice(" not in out  # 8x8 stylegan2: num_ws = 4
    assert Image.open(tmp_path / "mix.png").size == (4 * 64 + 5 * 2 * 8, 3 * 64 + 4 * 2 * 8)  # (cols+1)×(rows+1) tiles, ×8
    code, out, err = _run(monkeypatch, capsys, "interpolate", sg2, "--space", "w", "--frames", 5, "--out", tmp_path / "walk.gif")
    assert code == 0, err
    assert Image.open(tmp_path / "walk.gif").n_frames >= 2
    code, out, err = _run(monkeypatch, capsys, "sample", sg2, "-n", 4, "--truncation", 0.7, "--out", tmp_path / "t.png")
    assert code == 0, err
    code, out, err = _run(monkeypatch, capsys, "sample", sg2, "-n", 3, "--truncation-sweep", "1,0.7,0.5,0.3",
                          "--out", tmp_path / "sweep.png")
    assert code == 0 and "ψ = 1, ψ = 0.7, ψ = 0.5, ψ = 0.3" in out, err
    sweep = Image.open(tmp_path / "sweep.png")
    assert sweep.size[1] == 4 * 64 + 5 * 2 * 8  # one row per psi
    assert sweep.size[0] > 3 * 64 + 4 * 2 * 8 + 20  # and a margin of ψ labels on the left


def test_cli_tools_on_a_generator_without_mapping(monkeypatch, capsys, runs, tmp_path):
    dcgan = runs / "dcgan"
    code, out, err = _run(monkeypatch, capsys, "interpolate", dcgan, "--frames", 4, "--out", tmp_path / "walk.gif")
    assert code == 0, err
    for args in (["interpolate", dcgan, "--space", "w"], ["mix", dcgan], ["sample", dcgan, "--truncation", 0.7],
                 ["sample", dcgan, "--truncation-sweep", "1,0.5"]):
        code, out, err = _run(monkeypatch, capsys, *args, "--out", tmp_path / "x.png")
        assert code == 2 and "mapping network" in err, (args, err)

