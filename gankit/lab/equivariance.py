"""The equivariance lab (seed §6.3; Karras et al. 2021): StyleGAN2 with a Fourier input (config B)
against StyleGAN3-T and -R under a slow continuous translation, then rotation, of the input plane.

Each generator renders the same few latents while `G.synthesis.input.transform` moves; the frames
go side by side into one GIF (rows: StyleGAN2-B, StyleGAN3-T, StyleGAN3-R). An aliasing generator
shows "texture sticking": details stay glued to the pixel grid instead of moving with the content.
EQ-T, EQ-T_frac and EQ-R (REFERENCE §5) are measured for each, beside the paper's pattern.

Protocols: quick — untrained tiny networks, a few frames (tests); default — each network trained
for 2 minutes on Fashion-MNIST at 32×32 (CPU presets), 100 samples per metric; paper — 20 minutes
each, 500 samples.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch

from gankit.lab.report import LabSection, markdown_table, machine
from gankit.metrics.equivariance import equivariance, rotation_matrix
from gankit.viz.images import make_grid, save_gif

MODELS = (("StyleGAN2 (config B, Fourier input)", "stylegan2", ["G.input=fourier"]),
          ("StyleGAN3-T", "stylegan3-t", []),
          ("StyleGAN3-R", "stylegan3-r", []))
TINY = {"stylegan2": ["G.z_dim=16", "G.w_dim=16", "G.channel_base=64", "G.channel_max=8"],
        "stylegan3": ["G.z_dim=16", "G.w_dim=16", "G.channel_base=64", "G.channel_max=8", "G.num_layers=3"]}
PROTOCOLS = {
    "quick": {"train_seconds": 0, "n": 4, "frames": 6, "samples": 2},
    "default": {"train_seconds": 120, "n": 100, "frames": 48, "samples": 4},
    "paper": {"train_seconds": 1200, "n": 500, "frames": 96, "samples": 6},
}
PUBLISHED = {"StyleGAN2 (config B, Fourier input)": "≈ 10–16 dB on all three",
             "StyleGAN3-T": "EQ-T ≈ 60 dB, EQ-R low", "StyleGAN3-R": "EQ-T ≈ 60 dB, EQ-R ≈ 40+ dB"}


def _untrained(preset: str, extra: list[str]) -> torch.nn.Module:
    """A tiny, freshly initialised generator of `preset` at 32×32 (no data loaded)."""
    from gankit.config import build_options, load_config
    from gankit.registry import MODELS as FAMILIES

    cfg = load_config(preset, extra)
    family = FAMILIES.get(cfg.model)
    opts = {**cfg.G, "img_resolution": 32, "img_channels": 1}
    for item in TINY[cfg.model]:
        key, value = item[2:].split("=")
        opts[key] = int(value)
    torch.manual_seed(0)
    return family.build_G(build_options(family.G_options, opts, "G")).eval()


def _trained(preset: str, extra: list[str], out: Path, seconds: float, progress: bool) -> torch.nn.Module:
    """`preset` trained for `seconds` on Fashion-MNIST into `out` (G_ema, eval mode)."""
    from gankit.runs.load import load
    from gankit.training.trainer import train

    train(preset, out, extra + [f"seconds={seconds}", "kimg=100000", "log.sample_kimg=0", f"log.progress={str(progress).lower()}"])
    return load(out)


def _transform(frame: int, frames: int) -> torch.Tensor:
    """First half: translate by up to ¼ of the image along x and y; second half: rotate by up to 45°."""
    half = frames // 2
    m = torch.eye(3)
    if frame < half:
        t = 0.25 * frame / max(half - 1, 1)
        m[0, 2], m[1, 2] = -t, -0.5 * t
    else:
        m = rotation_matrix(-(math.pi / 4) * (frame - half) / max(frames - half - 1, 1))
    return m


@torch.no_grad()
def _frames(generators: list[torch.nn.Module], frames: int, samples: int) -> list[np.ndarray]:
    """One grid per frame: a row of `samples` images per generator, scaled ×4."""
    ws = []
    for G in generators:
        z = torch.randn(samples, G.z_dim, generator=torch.Generator().manual_seed(7))
        ws.append(G.mapping(z, None))
    out, gains = [], [1.0] * len(generators)
    for f in range(frames):
        rows = []
        for g, (G, w) in enumerate(zip(generators, ws)):
            transform = G.synthesis.input.transform
            saved = transform.clone()
            transform.copy_(_transform(f, frames))
            x = G.synthesis(w, noise_mode="const")  # [samples, C, H, W]
            transform.copy_(saved)
            if f == 0:  # one contrast stretch per row, fixed over the frames (untrained nets are faint)
                gains[g] = max(1.0, 1.0 / max(float(x.abs().max()), 1e-3))
            rows.append((x * gains[g]).clamp(-1, 1))
        grid = make_grid(torch.cat(rows), nrow=samples)  # [H, W, C] uint8
        out.append(grid.repeat(4, axis=0).repeat(4, axis=1))
    return out


def run(out: Path, protocol: str = "default", progress: bool = True) -> LabSection:
    """Train (or build) the three generators, write the GIF, measure EQ-T, EQ-T_frac and EQ-R."""
    p = PROTOCOLS[protocol]
    wall0 = time.perf_counter()
    generators = []
    for name, preset, extra in MODELS:
        if p["train_seconds"]:
            generators.append(_trained(preset, extra, out / "equivariance-runs" / preset, p["train_seconds"], progress))
        else:
            generators.append(_untrained(preset, extra))
    gif = save_gif(_frames(generators, p["frames"], p["samples"]), out / "equivariance.gif", fps=12).name
    scores = {}
    for (name, _, _), G in zip(MODELS, generators):
        scores[name] = equivariance(G, n=p["n"], seed=0, progress=progress)
    results = {"protocol": protocol, "samples_per_metric": p["n"], "train_seconds_each": p["train_seconds"],
               "scores_db": scores, "wall_s": round(time.perf_counter() - wall0, 1), "machine": machine()}
    rows = [[name, *(f"{s[k]:.1f}" for k in ("eqt", "eqt_frac", "eqr")), PUBLISHED[name]] for name, s in scores.items()]
    trained = (f"each trained for {p['train_seconds']} s on Fashion-MNIST at 32×32 (the CPU presets; G_ema)"
               if p["train_seconds"] else "untrained, tiny (quick protocol)")
    markdown = "\n".join([
        "Generators " + trained + ". Rows of the GIF, top to bottom: StyleGAN2 with the Fourier input (config B), "
        "StyleGAN3-T, StyleGAN3-R (each row's contrast stretched by one constant when faint); the input plane "
        "first slides by a quarter of the image, then turns by 45°. "
        "Where a network aliases, details stick to the pixel grid instead of travelling with the content.",
        "", f"![equivariance]({gif})", "",
        f"PSNR in dB (peak 2), {p['n']} samples per metric, batches of 4, one transform per batch (REFERENCE §5; the paper uses 50,000):",
        "", markdown_table(["generator", "EQ-T", "EQ-T_frac", "EQ-R", "published (paper, trained)"], rows), "",
        f"Wall time {results['wall_s']} s on a shared CPU.",
    ])
    return LabSection("equivariance", "Equivariance and texture sticking (StyleGAN3; seed §6.3)", markdown, [gif], results)
