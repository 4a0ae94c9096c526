"""Shared fixtures: tiny in-memory datasets and tiny configs so every test runs in seconds."""
from __future__ import annotations

import pytest
import torch

from gankit.config import load_config
from gankit.data import ImageDataset


def tiny_images(n: int = 96, resolution: int = 8, channels: int = 1, classes: int = 10, seed: int = 0) -> ImageDataset:
    """Random uint8 images with labels (enough to exercise every code path)."""
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, channels, resolution, resolution), generator=g, dtype=torch.uint8)
    labels = torch.randint(0, classes, (n,), generator=g) if classes else None
    return ImageDataset("tiny", images, labels, classes)


# Overrides that shrink every preset's networks to test size.
TINY = {
    "mlp": ["G.widths=[16,16]", "D.widths=[16]", "G.z_dim=8"],
    "dcgan": ["G.base_channels=4", "D.base_channels=4", "G.z_dim=8"],
    "progan": ["G.z_dim=8", "G.fmap_base=64", "G.fmap_max=8", "D.fmap_base=64", "D.fmap_max=8"],
    "stylegan": ["G.z_dim=8", "G.w_dim=8", "G.mapping_layers=1", "G.channel_base=64", "G.channel_max=8",
                 "D.channel_base=64", "D.channel_max=8"],
    "stylegan2": ["G.z_dim=8", "G.w_dim=8", "G.mapping_layers=1", "G.channel_base=64", "G.channel_max=8",
                  "D.channel_base=64", "D.channel_max=8"],
    "r3gan": ["G.widths=[]", "D.widths=[]", "G.width=16", "D.width=16", "G.z_dim=8", "G.c_embed_dim=0", "D.c_embed_dim=0"],
    "stylegan3": ["G.z_dim=8", "G.w_dim=8", "G.mapping_layers=1", "G.channel_base=64", "G.channel_max=8",
                  "G.num_layers=3", "G.num_critical=1", "G.margin_size=2", "D.channel_base=64", "D.channel_max=8"],
}
QUIET = ["log.progress=false", "log.every=1", "checkpoint.kimg=0", "log.sample_kimg=0", "log.sample_n=4"]


def tiny_config(preset: str, *extra: str, steps: int = 2, batch: int = 8):
    """A preset shrunk to test size (small nets, small batch, quiet hooks)."""
    model = load_config(preset).model
    return load_config(preset, TINY.get(model, []) + QUIET + [f"steps={steps}", f"batch_size={batch}"] + list(extra))


@pytest.fixture
def images8() -> ImageDataset:
    return tiny_images()


def run_cli(monkeypatch, capsys, *args):
    """Run `gankit ARGS` in-process through the console entry point; returns (exit code, stdout, stderr)."""
    import sys

    from gankit import cli

    monkeypatch.setattr(sys, "argv", ["gankit", *map(str, args)])
    code = 0
    try:
        cli.main()
    except SystemExit as exit_:
        code = exit_.code or 0
    out = capsys.readouterr()
    return code, out.out, out.err


def write_random_lpips_files(folder, legacy: bool = False):
    """(vgg16, lin) files with random weights in the real files' layouts: torchvision's VGG16 state dict
    (`features.*` plus a small stand-in `classifier.*`) and the lpips package's `lin{k}.model.1.weight`."""
    from pathlib import Path

    from gankit.metrics.lpips_vgg import TAP_CHANNELS, vgg16_features

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    state = {f"features.{k}": v for k, v in vgg16_features().state_dict().items()}
    state.update({"classifier.0.weight": torch.randn(4, 8), "classifier.0.bias": torch.zeros(4)})
    g = torch.Generator().manual_seed(1)
    lins = {f"lin{k}.model.1.weight": torch.rand(1, c, 1, 1, generator=g) for k, c in enumerate(TAP_CHANNELS)}
    vgg, lin = folder / "vgg16-random.pth", folder / "lin-random.pth"
    torch.save(state, vgg, _use_new_zipfile_serialization=not legacy)
    torch.save(lins, lin)
    return vgg, lin


@pytest.fixture(scope="session")
def lpips_files(tmp_path_factory):
    """Random LPIPS weight files (see write_random_lpips_files)."""
    return write_random_lpips_files(tmp_path_factory.mktemp("lpips"))


@pytest.fixture
def accept_lpips_files(monkeypatch, lpips_files):
    """The random LPIPS files, accepted by the sha256 check as if they were the real ones (CLI tests)."""
    from gankit.metrics import lpips_vgg
    from gankit.metrics.lpips_vgg import file_sha256

    vgg, lin = lpips_files
    monkeypatch.setattr(lpips_vgg, "VGG16_SHA256", file_sha256(vgg))
    monkeypatch.setattr(lpips_vgg, "LIN_SHA256", file_sha256(lin))
    return vgg, lin
