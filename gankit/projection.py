"""Real images into the latent space: the StyleGAN2-ADA projector's algorithm (REFERENCE §8, GUIDE §12).

Style-based generators (StyleGAN 1/2/3): start at w̄ and σ_w estimated from 10,000 z through the
mapping; optimise one w broadcast to every layer (`space="w"`) or one w per layer (`"w+"`) with Adam
(lr 0.1, β (0.9, 0.999)), the learning rate ramped up over the first 5 % of the steps and down by a
cosine over the last 25 %; Gaussian noise of scale σ_w·0.05·max(0, 1 − t/0.75)² is added to the
latent at each step. StyleGAN 1/2's per-layer noise maps (`noise_const` buffers, rendered with
noise_mode='const') are optimised too, penalised by the multi-scale autocorrelation regulariser
(weight 1e5) and re-normalised to zero mean and unit variance after each step. Other generators
(DCGAN, ProGAN, MLP) are projected in z, from the best of 64 random z, with σ_z = 1.

The loss is a perceptual distance plus pixel MSE. The distance (gankit.metrics.distances.select_distance)
is LPIPS-VGG16, the projector's own, when the user gives torchvision's VGG16 weights; otherwise the offline
fmnist-cnn (grey images) or effnet-lite0 (RGB, when installed) feature distance; for RGB images without
either, pixel MSE alone. Everything that defines the result is in `protocol`.
"""
from __future__ import annotations

import contextlib
import copy
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, List, Optional

import numpy as np
import torch
import torch.nn.functional as F
import typer

from gankit.errors import GankitError

Tensor = torch.Tensor
SPACES = ("w", "w+", "z")
W_AVG_SAMPLES = 10_000
NOISE_REG_WEIGHT = 1e5
LATENT_NOISE = 0.05  # × σ_w, annealed to 0 over the first NOISE_RAMP of the steps
NOISE_RAMP = 0.75
LR_RAMPDOWN = 0.25
LR_RAMPUP = 0.05
GIF_FRAMES = 40
Z_CANDIDATES = 64  # z-space start: the best of this many draws (z = 0 is degenerate under pixel norm)


@dataclass
class Projection:
    """One projected image: its latent ([num_ws, w_dim] for w/w+, [z_dim] for z), noise maps, result and scores."""

    latent: Tensor
    space: str
    noise: dict[str, Tensor]  # buffer name -> [R, R] (StyleGAN 1/2 only)
    target: Tensor  # [C, H, W] in [-1, 1]
    image: Tensor  # [C, H, W] in [-1, 1]
    frames: list[Tensor] = field(default_factory=list)  # [C, H, W] snapshots during the optimisation
    scores: dict = field(default_factory=dict)  # psnr, ssim, the distance's score (lpips or feature_distance), pixel_mse


def is_style(G) -> bool:
    """True for a generator with a mapping and a synthesis network."""
    return hasattr(G, "mapping") and hasattr(G, "synthesis") and hasattr(G, "num_ws")


def default_space(G) -> str:
    """w for style-based generators, z for the others."""
    return "w" if is_style(G) else "z"


def check_generator(G, space: str) -> None:
    """One-line GankitError when G cannot be projected into `space`."""
    if space not in SPACES:
        raise GankitError(f"--space must be one of {', '.join(SPACES)}, got {space!r}")
    if getattr(G, "is_vector", False):
        raise GankitError("projection takes images; this generator makes vector (toy) data")
    if getattr(G, "c_dim", 0):
        raise GankitError("projection of conditional generators is not supported; use an unconditional run")
    if space in ("w", "w+") and not is_style(G):
        raise GankitError(f"--space {space} needs a style-based generator; {type(G).__name__} is projected in z (--space z)")


def learning_rate(t: float, lr: float) -> float:
    """The projector's ramp at progress t ∈ [0, 1): warm-up over 5 %, cosine ramp-down over the last 25 %."""
    ramp = min(1.0, (1.0 - t) / LR_RAMPDOWN)
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    return lr * ramp * min(1.0, t / LR_RAMPUP)


def noise_scale(t: float, std: float) -> float:
    """Latent noise σ·0.05·max(0, 1 − t/0.75)²."""
    return std * LATENT_NOISE * max(0.0, 1.0 - t / NOISE_RAMP) ** 2


def noise_buffers(G) -> dict[str, Tensor]:
    """StyleGAN 1/2's constant noise maps by buffer name ({} for StyleGAN3 and non-style generators)."""
    return {name: buf for name, buf in G.named_buffers() if name.endswith("noise_const")}


def autocorrelation_penalty(maps: list[Tensor]) -> Tensor:
    """Σ over maps, images and scales (halved down to 8×8) of the squared mean autocorrelation at shift 1
    in x and y; maps are [R, R] or, one per image, [N, R, R]."""
    reg = maps[0].new_zeros(())
    for m in maps:
        noise = m.reshape(-1, 1, *m.shape[-2:])  # [N, 1, R, R]
        while True:
            for dim in (3, 2):
                reg = reg + (noise * torch.roll(noise, 1, dims=dim)).mean((1, 2, 3)).square().sum()
            if noise.shape[2] <= 8:
                break
            noise = F.avg_pool2d(noise, 2)
    return reg


@contextlib.contextmanager
def noise_maps(G, maps: Optional[dict[str, Tensor]]) -> Iterator[None]:
    """Render with these noise maps in G's `noise_const` buffers; restore the originals afterwards."""
    buffers = noise_buffers(G)
    saved = {name: buf.detach().clone() for name, buf in buffers.items()}
    try:
        with torch.no_grad():
            for name, value in (maps or {}).items():
                if name in buffers:
                    buffers[name].copy_(value)
        yield
    finally:
        with torch.no_grad():
            for name, buf in buffers.items():
                buf.copy_(saved[name])


@torch.no_grad()
def w_statistics(G, n: int = W_AVG_SAMPLES, seed: int = 0, batch_size: int = 1000) -> tuple[Tensor, float]:
    """(w̄ [w_dim], σ_w = sqrt(Σ|w − w̄|² / n)) from n z ~ N(0, I) through the mapping."""
    gen = torch.Generator().manual_seed(seed)
    device = next(G.parameters()).device
    ws = torch.cat([G.mapping(torch.randn(min(batch_size, n - s), G.z_dim, generator=gen).to(device), None)[:, 0].float()
                    for s in range(0, n, batch_size)])  # [n, w_dim]
    w_avg = ws.mean(0)
    return w_avg, float(((ws - w_avg).square().sum() / n).sqrt())


def image_generators(seed: int, indices: range) -> list[torch.Generator]:
    """One CPU generator per image, keyed by (seed, the image's index): an image's projection does not
    depend on the batch it is projected in."""
    return [torch.Generator().manual_seed(int(np.random.SeedSequence([seed, i]).generate_state(1)[0]))
            for i in indices]


def draw(gens: list[torch.Generator], shape: tuple[int, ...]) -> Tensor:
    """N(0, 1) of shape [N, *shape], row i from gens[i]."""
    return torch.stack([torch.randn(shape, generator=g) for g in gens])


@torch.no_grad()
def best_z(G, targets: Tensor, distance, gens: list[torch.Generator], candidates: int = Z_CANDIDATES) -> Tensor:
    """Per target [N, C, H, W], the z among `candidates` draws of its generator whose image is nearest
    (distance + pixel MSE): [N, z_dim]."""
    render = _Renderer(G, "z")
    chosen = []
    for target, gen in zip(targets, gens):
        z = torch.randn(candidates, G.z_dim, generator=gen).to(targets.device)  # [K, z_dim]
        images = render(z)  # [K, C, H, W]
        cost = distance(images, target.expand_as(images)) + (images - target).square().flatten(1).mean(1)  # [K]
        chosen.append(z[int(cost.argmin())].cpu())
    return torch.stack(chosen)


class _Renderer:
    """latents [N, ...] -> raw images [N, C, H, W] for the chosen space (noise maps from the copy's buffers)."""

    def __init__(self, G, space: str) -> None:
        self.G, self.space = G, space

    def __call__(self, latent: Tensor) -> Tensor:
        if self.space == "z":
            raw = getattr(self.G, "raw", None)
            return raw(latent, None) if raw is not None else self.G(latent)
        ws = latent.expand(-1, self.G.num_ws, -1)  # [N, num_ws, w_dim]
        return self.G.synthesis(ws, noise_mode="const")


def project_batch(G, targets: Tensor, space: str, steps: int, distance, seed: int = 0, first_index: int = 0,
                  w_stats: Optional[tuple[Tensor, float]] = None, lr: float = 0.1, regularize_noise: bool = True,
                  progress: bool = False, desc: str = "projecting") -> list[Projection]:
    """Project targets [N, C, H, W] in [-1, 1] into G's `space` at once (G is left unchanged).

    The N problems stay independent: the loss is a sum of per-image terms, Adam works elementwise,
    each image has its own latent, noise maps ([N, R, R] in the copy's buffers) and random draws."""
    from tqdm.auto import tqdm

    check_generator(G, space)
    device = next(G.parameters()).device
    Gc = copy.deepcopy(G).eval().requires_grad_(False)
    targets = targets.to(device, torch.float32)  # [N, C, H, W]
    n = len(targets)
    gens = image_generators(seed, range(first_index, first_index + n))
    if space == "z":
        start, std = best_z(Gc, targets, distance, gens), 1.0  # [N, z_dim]
        maps = {}
    else:
        w_avg, std = w_stats if w_stats is not None else w_statistics(Gc, seed=seed)
        start = w_avg.detach().cpu()[None, None].repeat(n, G.num_ws if space == "w+" else 1, 1)  # [N, L or 1, w_dim]
        maps = {}
        if regularize_noise:
            modules = dict(Gc.named_modules())
            for name, buf in noise_buffers(Gc).items():
                owner, _, attr = name.rpartition(".")
                maps[name] = draw(gens, tuple(buf.shape)).to(device).requires_grad_(True)  # [N, R, R]
                setattr(modules[owner], attr, maps[name])  # the copy renders image i with maps[name][i]
    latent = start.to(device).requires_grad_(True)
    opt = torch.optim.Adam([latent, *maps.values()], lr=lr, betas=(0.9, 0.999))
    render = _Renderer(Gc, space)
    every = max(1, steps // GIF_FRAMES)
    frames = []
    for step in tqdm(range(steps), desc=desc, disable=not progress, leave=False):
        t = step / steps
        for group in opt.param_groups:
            group["lr"] = learning_rate(t, lr)
        jitter = draw(gens, tuple(latent.shape[1:])).to(device) * noise_scale(t, std)
        images = render(latent + jitter)  # [N, C, H, W]
        loss = (distance(images, targets) + (images - targets).square().flatten(1).mean(1)).sum()
        if maps:
            loss = loss + NOISE_REG_WEIGHT * autocorrelation_penalty(list(maps.values()))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            for m in maps.values():
                m -= m.mean((1, 2), keepdim=True)
                m *= m.square().mean((1, 2), keepdim=True).rsqrt()
        if step % every == 0:
            frames.append(images.detach().clamp(-1, 1).cpu())
    with torch.no_grad():
        final = render(latent).clamp(-1, 1)  # [N, C, H, W]
        frames.append(final.cpu())
        scores = pair_scores(final, targets, distance)
    out = latent.detach().cpu()
    if space != "z":
        out = out.expand(-1, G.num_ws, -1)  # [N, num_ws, w_dim]
    return [Projection(out[i].clone(), space, {k: m[i].detach().cpu().clone() for k, m in maps.items()},
                       targets[i].cpu(), final[i].cpu(), [f[i] for f in frames], scores[i]) for i in range(n)]


@torch.no_grad()
def pair_scores(images: Tensor, targets: Tensor, distance) -> list[dict]:
    """Per pair of [N, C, H, W] images: PSNR (dB, peak 2 on [-1, 1]), SSIM, the distance (under its
    `score_key`: lpips or feature_distance; none for pixel MSE alone) and the pixel MSE."""
    from gankit.metrics.distances import psnr, ssim

    columns = {"psnr": psnr(images, targets), "ssim": ssim(images, targets)}
    if distance.score_key is not None:
        columns[distance.score_key] = distance(images, targets)
    columns["pixel_mse"] = (images.double() - targets.double()).square().flatten(1).mean(1)
    return [{k: float(v[i]) for k, v in columns.items()} for i in range(len(images))]


def default_batch(G) -> int:
    """Images projected at once: 32 at 32 px and below, fewer as images grow, 1 from 256 px."""
    return max(1, min(32, 32_768 // G.img_resolution ** 2))


def project(G, images, space: Optional[str] = None, steps: int = 1000, seed: int = 0, distance=None,
            progress: bool = True, regularize_noise: bool = True, batch_size: Optional[int] = None) -> list[Projection]:
    """Project images [N, C, H, W] in [-1, 1] (at G's size and channels) into G, `batch_size` at a time
    (default: `default_batch`); one Projection each, the same whatever the batch size."""
    from tqdm.auto import tqdm

    from gankit.metrics.distances import select_distance

    space = space or default_space(G)
    check_generator(G, space)
    if steps < 1:
        raise GankitError("--steps must be at least 1")
    images = torch.as_tensor(images)
    shape = (G.img_channels, G.img_resolution, G.img_resolution)
    if images.ndim != 4 or tuple(images.shape[1:]) != shape:
        raise GankitError(f"images must be [N, {shape[0]}, {shape[1]}, {shape[2]}] for this generator; got "
                          f"{tuple(images.shape)} (load_targets converts image files)")
    batch_size = batch_size or default_batch(G)
    if batch_size < 1:
        raise GankitError("--batch must be at least 1")
    device = next(G.parameters()).device
    if distance is None:
        distance = select_distance(G.img_channels, G.img_resolution, device=device)
    w_stats = w_statistics(G, seed=seed) if space != "z" else None
    starts = range(0, len(images), batch_size)
    results = []
    for first in tqdm(starts, desc="batches", disable=not progress or len(starts) < 2):
        last = min(first + batch_size, len(images))
        results += project_batch(G, images[first:last], space, steps, distance, seed, first, w_stats,
                                 regularize_noise=regularize_noise, progress=progress,
                                 desc=f"images {first + 1}-{last} of {len(images)}")
    return results


def image_paths(inputs: list[Path]) -> list[Path]:
    """Files as given, folders expanded to their images (sorted); a missing path is a GankitError."""
    from gankit.data.folder import scan_folder

    paths = []
    for item in inputs:
        item = Path(item)
        if item.is_dir():
            paths += scan_folder(item)[0]
        elif item.is_file():
            paths.append(item)
        else:
            raise GankitError(f"no image or folder at {item}")
    if not paths:
        raise GankitError("name at least one image or folder to project")
    return paths


def load_targets(paths: list[Path], resolution: int, channels: int, resize: bool = True) -> tuple[Tensor, list[str]]:
    """Images [N, C, R, R] in [-1, 1] and one note per image (converted/resized, or "")."""
    from PIL import Image, UnidentifiedImageError

    from gankit.data.folder import fit_image, is_colour

    out, notes = [], []
    for path in paths:
        try:
            with Image.open(path) as image:
                image.load()
                size, colour = image.size, is_colour(image)
                if size != (resolution, resolution) and not resize:
                    raise GankitError(f"{path} is {size[0]}x{size[1]}, the generator makes {resolution}x{resolution}; "
                                      "resize it or drop --no-resize")
                array = fit_image(image, resolution, channels)  # [R, R, C] uint8
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as err:
            raise GankitError(f"{path} is not a readable image ({type(err).__name__}); give png/jpg/webp files") from None
        note = []
        if size != (resolution, resolution):
            note.append(f"resized {size[0]}x{size[1]} -> {resolution}x{resolution} (shorter side, Lanczos, centre crop)")
        if colour != (channels == 3):
            note.append("converted to " + ("grey (L)" if channels == 1 else "RGB"))
        out.append(torch.from_numpy(array.copy()).permute(2, 0, 1).float() / 127.5 - 1)
        notes.append("; ".join(note))
    return torch.stack(out), notes


def protocol(space: str, steps: int, seed: int, distance, regularize_noise: bool, G) -> dict:
    """What defines a projection's numbers (stamped in projection.json)."""
    from gankit.version import __version__

    style = space != "z"
    return {"algorithm": "StyleGAN2-ADA projector (REFERENCE §8)", "space": space, "steps": steps, "seed": seed,
            "optimizer": "Adam lr 0.1 betas (0.9, 0.999), warm-up 5 %, cosine ramp-down over the last 25 %",
            "start": f"w_avg of {W_AVG_SAMPLES} z through the mapping" if style else f"best of {Z_CANDIDATES} random z",
            "latent_noise": f"{LATENT_NOISE}·σ·max(0, 1 − t/{NOISE_RAMP})², σ = " + ("σ_w" if style else "1"),
            "noise_maps": (f"optimised, autocorrelation regulariser weight {NOISE_REG_WEIGHT:g}, re-normalised each step"
                           if style and regularize_noise and noise_buffers(G) else "none"),
            "loss": f"{distance.name} distance + pixel MSE",
            **distance.protocol(), "psnr": "dB, peak 2 on [-1, 1]", "ssim": "Gaussian 11, sigma 1.5, on [0, 1]",
            "gankit_version": __version__}


def save_projections(results: list[Projection], names: list[str], out: Path, proto: dict,
                     notes: Optional[list[str]] = None, sources: Optional[list[str]] = None) -> Path:
    """Per image: <out>/<k>-<name>/latent.npz, compare.png (target | projection), optimisation.gif; then out/projection.json."""
    from gankit.viz.images import make_grid, save_gif, save_image_grid

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    for k, (res, name) in enumerate(zip(results, names)):
        folder = out / f"{k:03d}-{name}"
        folder.mkdir(parents=True, exist_ok=True)
        key = "z" if res.space == "z" else "ws"
        arrays = {key: res.latent.numpy(), **{f"noise/{n}": m.numpy() for n, m in res.noise.items()}}
        np.savez(folder / "latent.npz", **arrays)
        scale = max(1, 64 // res.image.shape[-1])
        save_image_grid(torch.stack([res.target, res.image]), folder / "compare.png", nrow=2, scale=scale)
        frames = [make_grid(torch.stack([res.target, f]), nrow=2) for f in res.frames]
        save_gif([g.repeat(scale, axis=0).repeat(scale, axis=1) for g in frames], folder / "optimisation.gif", fps=10)
        entries.append({"name": name, "folder": folder.name, "space": res.space, **res.scores,
                        **({"source": sources[k]} if sources else {}), **({"note": notes[k]} if notes and notes[k] else {})})
    path = out / "projection.json"
    path.write_text(json.dumps({"protocol": proto, "images": entries}, indent=2) + "\n")
    return path


def load_projections(folder: Path) -> tuple[list[str], str, list[Tensor], list[dict[str, Tensor]]]:
    """(names, space, latents, noise maps) of a `gankit project` output folder, in its order."""
    folder = Path(folder)
    index = folder / "projection.json"
    if not index.is_file():
        raise GankitError(f"{folder} holds no projection.json; make one with gankit project RUN IMAGE... --out {folder}")
    try:
        entries = json.loads(index.read_text())["images"]
        spaces = {e["space"] for e in entries}
        latents, maps = [], []
        for e in entries:
            with np.load(folder / e["folder"] / "latent.npz", allow_pickle=False) as npz:
                latents.append(torch.from_numpy(npz["z" if e["space"] == "z" else "ws"]).float())
                maps.append({k[len("noise/"):]: torch.from_numpy(npz[k]).float() for k in npz.files if k.startswith("noise/")})
    except (KeyError, ValueError, OSError, json.JSONDecodeError) as err:
        raise GankitError(f"{index} or its latents are unreadable ({type(err).__name__}: {err}); re-run gankit project") from None
    if len(spaces) != 1:
        raise GankitError(f"{folder} mixes latent spaces {sorted(spaces)}; project all images in one --space")
    return [e["name"] for e in entries], spaces.pop(), latents, maps


def check_latents(G, space: str, latents: list[Tensor], folder: Path) -> None:
    """One-line GankitError when latents do not fit G (projected with another generator)."""
    want = (G.z_dim,) if space == "z" else (getattr(G, "num_ws", -1), getattr(getattr(G, "mapping", None), "w_dim", -1))
    if space != "z" and not is_style(G):
        raise GankitError(f"{folder} holds {space} latents, which need a style-based generator")
    bad = [tuple(t.shape) for t in latents if tuple(t.shape) != want]
    if bad:
        raise GankitError(f"the latents in {folder} have shape {bad[0]}, this generator takes {want}; "
                          "project with the same run")


# ---- CLI command (registered in gankit/cli.py) ------------------------------------------------
def project_command(
    run: Path = typer.Argument(..., help="run folder, checkpoint folder or NVIDIA snapshot (.pkl)"),
    images: List[Path] = typer.Argument(..., help="image files or folders of images"),
    out: Path = typer.Option(..., "--out", "-o", help="output folder (per image: latent.npz, compare.png, optimisation.gif)"),
    space: Optional[str] = typer.Option(None, "--space", help="w | w+ (style-based G; default w) | z (other generators)"),
    steps: int = typer.Option(1000, "--steps", help="optimisation steps per image"),
    seed: int = typer.Option(0, "--seed", help="seed of the w statistics, latent noise and initial noise maps"),
    resize: bool = typer.Option(True, "--resize/--no-resize", help="resize/convert images to the generator's size (else an error)"),
    no_noise_maps: bool = typer.Option(False, "--no-noise-maps", help="keep G's noise maps fixed (StyleGAN 1/2)"),
    batch: Optional[int] = typer.Option(None, "--batch", help="images optimised at once (default 32 at 32 px, 1 from "
                                                                "256 px); the results do not depend on it"),
    lpips_weights: Optional[Path] = typer.Option(None, "--lpips-weights", help="torchvision's VGG16 file vgg16-397923af.pth: "
                                                 "the distance is LPIPS-VGG16 (sha256-checked)"),
    lpips_lin: Optional[Path] = typer.Option(None, "--lpips-lin", help="LPIPS v0.1 calibration file vgg.pth "
                                             "(default: the lpips package's; make lpips)"),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda | cuda:N"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bars"),
) -> None:
    """Project real images into a generator's latent space (StyleGAN2-ADA's projector; z for other generators)."""
    from gankit.metrics.distances import select_distance
    from gankit.nn.device import pick_device
    from gankit.runs.load import load

    paths = image_paths(images)
    if not run.exists():
        raise GankitError(f"no run, checkpoint or snapshot at {run}")
    torch_device = pick_device(device)
    G = load(run, device=str(torch_device))
    space = space or default_space(G)
    check_generator(G, space)
    if steps < 1:
        raise GankitError("--steps must be at least 1")
    targets, notes = load_targets(paths, G.img_resolution, G.img_channels, resize)
    for path, note in zip(paths, notes):
        if note:
            typer.echo(f"note: {path}: {note}")
    distance = select_distance(G.img_channels, G.img_resolution, None if lpips_weights is None else str(lpips_weights),
                               None if lpips_lin is None else str(lpips_lin), device=torch_device)
    if distance.note:
        typer.echo(f"note: {distance.note}")
    results = project(G, targets, space, steps, seed, distance, progress=not quiet, regularize_noise=not no_noise_maps,
                      batch_size=batch)
    proto = {**protocol(space, steps, seed, distance, not no_noise_maps, G), "run": str(run.resolve())}
    index = save_projections(results, [p.stem for p in paths], out, proto, notes, [str(p) for p in paths])
    for path, res in zip(paths, results):
        s = res.scores
        score = f", {distance.name} {s[distance.score_key]:.4f}" if distance.score_key else ""
        typer.echo(f"{path.name}: PSNR {s['psnr']:.2f} dB, SSIM {s['ssim']:.3f}{score}, pixel MSE {s['pixel_mse']:.4f}")
    typer.echo(f"wrote {index} ({len(results)} image(s), {space} space, {steps} steps)")
