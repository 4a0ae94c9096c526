"""`gankit export`: the ONNX file (in onnxruntime) and the .pt2 program (in torch) compute G."""
from __future__ import annotations

import importlib.util

import pytest
import torch
from typer.testing import CliRunner

import gankit
from gankit.cli import app
from gankit.errors import GankitError
from gankit.export import export_generator
from gankit.training import Trainer
from tests.conftest import tiny_config, tiny_images

HAS_ONNX = all(importlib.util.find_spec(m) for m in ("onnx", "onnxscript", "onnxruntime"))


@pytest.fixture(scope="module")
def cdcgan_run(tmp_path_factory):
    """A conditional DCGAN run with G_ema (BatchNorm in G: eval-mode statistics must be exported)."""
    out = tmp_path_factory.mktemp("run")
    cfg = tiny_config("cdcgan", "ema.kimg=1", "checkpoint.kimg=0", steps=2)
    Trainer(cfg, out, data=tiny_images(n=32, resolution=8)).train()
    return out


def inputs(G, n=5, seed=1):
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n, G.z_dim, generator=gen)  # a batch size other than the traced one (2)
    c = torch.nn.functional.one_hot(torch.randint(G.c_dim, (n,), generator=gen), G.c_dim).float()
    return z, c


def test_pt2_program_matches_the_generator(cdcgan_run, tmp_path):
    result = CliRunner().invoke(app, ["export", str(cdcgan_run), "--format", "pt2", "--out", str(tmp_path / "G.pt2")])
    assert result.exit_code == 0, result.output
    G = gankit.load(cdcgan_run)  # G_ema
    z, c = inputs(G)
    program = torch.export.load(tmp_path / "G.pt2")
    with torch.no_grad():
        assert torch.allclose(program.module()(z, c), G(z, c), atol=1e-4, rtol=0)


@pytest.mark.skipif(not HAS_ONNX, reason="the export extra (onnx, onnxscript, onnxruntime) is not installed")
def test_onnx_file_in_onnxruntime_matches_the_generator(cdcgan_run, tmp_path):
    import onnxruntime

    G = gankit.load(cdcgan_run)
    path = export_generator(G, tmp_path / "G.onnx", "onnx")
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["z", "c"]
    z, c = inputs(G)
    (images,) = session.run(["images"], {"z": z.numpy(), "c": c.numpy()})
    with torch.no_grad():
        expected = G(z, c)
    assert images.shape == tuple(expected.shape)
    assert torch.allclose(torch.from_numpy(images), expected, atol=1e-4, rtol=0)


def test_unconditional_mlp_exports_with_z_only(tmp_path):
    trainer = Trainer(tiny_config("seed-gan", steps=1), data=tiny_images(n=32, resolution=8, classes=0)).train()
    G = trainer.G.eval()
    program = torch.export.load(export_generator(G, tmp_path / "G.pt2", "pt2"))
    z = torch.randn(3, G.z_dim)
    with torch.no_grad():
        assert torch.allclose(program.module()(z), G(z), atol=1e-4, rtol=0)
    with pytest.raises(GankitError, match="--format must be one of"):
        export_generator(G, tmp_path / "G.x", "tflite")


FAMILIES = [("seed-gan", 8), ("progan", 8), ("stylegan", 8), ("stylegan2", 8), ("stylegan3-t", 16), ("stylegan3-r", 16)]


def perturbed_generator(preset: str, resolution: int) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    """(G, z [3, z_dim], G(z)): an eval-mode G of the family with its weights moved away from the init
    (StyleGAN's const of ones leaves its first instance norm at 0/0); ProGAN half-way through fading
    in its top resolution."""
    from gankit.models import build_models, resolve_model_options

    cfg = tiny_config(preset)
    resolve_model_options(cfg, tiny_images(resolution=resolution))
    G = build_models(cfg)[0].eval()
    torch.manual_seed(3)
    with torch.no_grad():
        for p in G.parameters():
            p.add_(torch.randn_like(p) * 0.1)
        if preset == "progan":
            G.lod.fill_(0.5)
        z = torch.randn(3, G.z_dim)
        return G, z, G(z)


@pytest.mark.parametrize("preset, resolution", FAMILIES)
def test_every_generator_family_exports_to_pt2(preset, resolution, tmp_path):
    G, z, expected = perturbed_generator(preset, resolution)
    program = torch.export.load(export_generator(G, tmp_path / "G.pt2", "pt2"))
    assert torch.allclose(program.module()(z), expected, atol=1e-5, rtol=0)
    assert isinstance(getattr(G, "lod", torch.zeros(())), torch.Tensor)  # export froze a copy, not G


@pytest.mark.slow
@pytest.mark.skipif(not HAS_ONNX, reason="the export extra (onnx, onnxscript, onnxruntime) is not installed")
@pytest.mark.parametrize("preset, resolution", FAMILIES)
def test_every_generator_family_exports_to_onnx(preset, resolution, tmp_path):
    import onnxruntime

    G, z, expected = perturbed_generator(preset, resolution)
    session = onnxruntime.InferenceSession(str(export_generator(G, tmp_path / "G.onnx", "onnx")),
                                           providers=["CPUExecutionProvider"])
    (images,) = session.run(["images"], {"z": z.numpy()})
    assert torch.allclose(torch.from_numpy(images), expected, atol=1e-4, rtol=0)


@pytest.mark.skipif(not HAS_ONNX, reason="the export extra (onnx, onnxscript, onnxruntime) is not installed")
def test_onnx_export_prints_only_its_own_line(cdcgan_run, tmp_path):
    import subprocess
    import sys

    out = tmp_path / "G.onnx"
    result = subprocess.run([sys.executable, "-m", "gankit", "export", str(cdcgan_run), "--format", "onnx", "--out", str(out)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no torch.onnx log lines (torchvision ops skipped), no FutureWarnings
    assert result.stdout == f"wrote {out} (onnx; inputs z [N, 8], c [N, 10] one-hot; output images)\n"
