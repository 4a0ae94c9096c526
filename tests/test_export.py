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
