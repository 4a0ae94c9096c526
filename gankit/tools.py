"""Tools for trained generators: style-mixing grids, latent walks, truncation (API and CLI commands).

- `mix_grid`: rows are sources A, columns sources B; each cell renders A's ws with B's ws at the
  chosen level (coarse / middle / fine = the first / second / last third of num_ws, so the levels
  exist at every resolution). The top row shows B, the left column A.
- `interpolation_frames`: slerp between z endpoints (every generator) or lerp between their w
  (style-based generators), rendered with constant noise so only the latent moves.
- `truncation_grid`: the same latents at several ψ, one row per ψ (w' = w̄ + ψ(w − w̄)).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import torch
import typer

from gankit.errors import GankitError
from gankit.models.base import one_hot

Tensor = torch.Tensor
LEVELS = ("coarse", "middle", "fine")


def require_style(G, what: str):
    """G itself when it has a mapping network, else a GankitError naming the option."""
    if not hasattr(G, "mapping") or not hasattr(G, "synthesis"):
        raise GankitError(f"{what} needs a style-based generator with a mapping network (stylegan, stylegan2, "
                          f"stylegan3); this run's generator ({type(G).__name__}) has none")
    return G


def level_slice(level: str, num_ws: int) -> slice:
    """The ws indices of a level: thirds of num_ws (coarse first)."""
    if level not in LEVELS:
        raise GankitError(f"--levels must be one of {', '.join(LEVELS)}, got {level!r}")
    bounds = [0, round(num_ws / 3), round(2 * num_ws / 3), num_ws]
    i = LEVELS.index(level)
    return slice(bounds[i], bounds[i + 1])


def level_text(level: str, num_ws: int) -> str:
    """'coarse styles = ws 0-2 of 0-7' (the w layers a level covers), for messages."""
    layers = level_slice(level, num_ws)
    if layers.start >= layers.stop:
        return f"{level} styles = no w layer (this generator has only {num_ws})"
    span = f"{layers.start}" if layers.stop - layers.start == 1 else f"{layers.start}-{layers.stop - 1}"
    return f"{level} styles = ws {span} of 0-{num_ws - 1}"


def _styles(G, n: int, seed: int, psi: float, c: int | None = None) -> Tensor:
    z, labels = G.latents(n, seed, c)
    cc = one_hot(labels, G.c_dim, n) if labels is not None else None
    return G.mapping(z, cc, psi=psi)  # [n, num_ws, w_dim]


@torch.no_grad()
def mix_grid(G, rows: int = 5, cols: int = 5, level: str = "coarse", seed: int = 0, psi: float = 1.0,
             ws_a: Tensor | None = None, ws_b: Tensor | None = None) -> Tensor:
    """[(rows+1)·(cols+1), C, H, W]: a blank corner, B across the top, A down the side, mixes inside
    (A and B drawn from `seed`, or the given ws, e.g. projected real images)."""
    require_style(G, "style mixing")
    ws_a = _styles(G, rows, seed, psi) if ws_a is None else ws_a  # [rows, L, w_dim]
    ws_b = _styles(G, cols, seed + 1000, psi) if ws_b is None else ws_b  # [cols, L, w_dim]
    rows, cols = len(ws_a), len(ws_b)
    layers = level_slice(level, G.num_ws)
    mixed = ws_a[:, None].repeat(1, cols, 1, 1)  # [rows, cols, L, w_dim]
    mixed[:, :, layers] = ws_b[None, :, layers]
    render = lambda ws: G.synthesis(ws, noise_mode="const").clamp(-1, 1)  # noqa: E731
    img_a, img_b, img_mix = render(ws_a), render(ws_b), render(mixed.flatten(0, 1))
    blank = torch.full_like(img_a[:1], -1.0)
    grid = [blank, img_b]
    for i in range(rows):
        grid += [img_a[i:i + 1], img_mix[i * cols:(i + 1) * cols]]
    return torch.cat(grid)


def slerp(a: Tensor, b: Tensor, t: float) -> Tensor:
    """Spherical interpolation of rows of a and b (falls back to lerp for parallel vectors)."""
    a_n, b_n = a / a.norm(dim=-1, keepdim=True), b / b.norm(dim=-1, keepdim=True)
    omega = torch.acos((a_n * b_n).sum(-1, keepdim=True).clamp(-1, 1))
    so = torch.sin(omega)
    safe = so.abs() > 1e-6
    out = (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.where(safe, so, torch.ones_like(so))
    return torch.where(safe, out, torch.lerp(a, b, t))


@torch.no_grad()
def interpolation_frames(G, space: str = "z", frames: int = 60, n: int = 4, seed: int = 0, psi: float = 1.0) -> list[Tensor]:
    """`frames` batches [n, C, H, W]: n walks from the latents of `seed` to those of `seed + 1`."""
    if space not in ("z", "w"):
        raise GankitError(f"--space must be z or w, got {space!r}")
    if G.is_vector:
        raise GankitError("interpolation renders images; this generator makes vector (toy) data")
    if frames < 2:
        raise GankitError("--frames must be at least 2")
    z0, labels = G.latents(n, seed)
    z1, _ = G.latents(n, seed + 1)
    c = one_hot(labels, G.c_dim, n) if labels is not None else None
    ts = [i / (frames - 1) for i in range(frames)]
    if space == "w":
        require_style(G, "--space w")
        w0, w1 = G.mapping(z0, c, psi=psi), G.mapping(z1, c, psi=psi)
        return [G.synthesis(torch.lerp(w0, w1, t), noise_mode="const").clamp(-1, 1) for t in ts]
    if hasattr(G, "mapping"):
        return [G.synthesis(G.mapping(slerp(z0, z1, t), c, psi=psi), noise_mode="const").clamp(-1, 1) for t in ts]
    return [G(slerp(z0, z1, t), c).clamp(-1, 1) for t in ts]


@torch.no_grad()
def projected_walk(G, folder: Path, frames: int) -> list[Tensor]:
    """A walk through the latents of a `gankit project` folder in order: `frames` per segment, each [1, C, H, W]
    (lerp of ws and of the projected noise maps for w/w+, slerp for z)."""
    from gankit.projection import check_latents, load_projections, noise_maps

    if frames < 2:
        raise GankitError("--frames must be at least 2")
    names, space, latents, maps = load_projections(folder)
    if len(latents) < 2:
        raise GankitError(f"{folder} holds {len(latents)} projected image; interpolation needs at least 2")
    check_latents(G, space, latents, folder)
    out = []
    for k in range(len(latents) - 1):
        a, b = latents[k][None], latents[k + 1][None]
        for i in range(frames - (k < len(latents) - 2)):  # segments share their end frame
            t = i / (frames - 1)
            if space == "z":
                raw = getattr(G, "raw", None)
                z = slerp(a, b, t)
                image = raw(z, None) if raw is not None else G(z)
            else:
                mixed = {name: torch.lerp(maps[k][name], maps[k + 1][name], t) for name in maps[k] if name in maps[k + 1]}
                with noise_maps(G, mixed):
                    image = G.synthesis(torch.lerp(a, b, t), noise_mode="const")
            out.append(image.clamp(-1, 1))
    return out


@torch.no_grad()
def truncation_grid(G, psis: list[float], n: int = 8, seed: int = 0, cutoff: int | None = None) -> Tensor:
    """[len(psis)·n, C, H, W]: row k renders the same n latents at ψ = psis[k]."""
    require_style(G, "truncation")
    z, labels = G.latents(n, seed)
    c = one_hot(labels, G.c_dim, n) if labels is not None else None
    return torch.cat([G.synthesis(G.mapping(z, c, psi=psi, cutoff=cutoff), noise_mode="const").clamp(-1, 1)
                      for psi in psis])


@torch.no_grad()
def truncated_samples(G, n: int, psi: float, seed: int = 0, c: int | None = None, batch_size: int = 256) -> Tensor:
    """n samples at truncation ψ (random noise inputs, as `G.sample`)."""
    require_style(G, "--truncation")
    z, labels = G.latents(n, seed, c)
    out = []
    for start in range(0, n, batch_size):
        zc = z[start:start + batch_size]
        cc = one_hot(labels[start:start + batch_size], G.c_dim, len(zc)) if labels is not None else None
        out.append(G(zc, cc, psi=psi).clamp(-1, 1))
    return torch.cat(out)


def parse_psis(text: str) -> list[float]:
    """'1,0.7,0.5' -> [1.0, 0.7, 0.5]."""
    try:
        psis = [float(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise GankitError(f"--truncation-sweep takes comma-separated numbers, e.g. 1,0.7,0.5,0.3; got {text!r}") from None
    if not psis:
        raise GankitError("--truncation-sweep needs at least one value")
    return psis


def projected_ws(G, folder: Path) -> Tensor:
    """The ws [N, num_ws, w_dim] of a `gankit project` folder (w or w+ latents of this generator)."""
    from gankit.projection import check_latents, load_projections

    require_style(G, "style mixing")
    _, space, latents, _ = load_projections(folder)
    if space == "z":
        raise GankitError(f"{folder} holds z latents; style mixing needs images projected with --space w or w+")
    check_latents(G, space, latents, folder)
    return torch.stack(latents)


def _frames_to_uint8(batches: list[Tensor], nrow: int) -> list[np.ndarray]:
    from gankit.viz.images import make_grid

    return [make_grid(b, nrow=nrow) for b in batches]


# ---- CLI commands (registered in gankit/cli.py) -------------------------------------------

def mix_command(
    run: Path = typer.Argument(..., help="run folder or checkpoint folder of a style-based generator"),
    rows: int = typer.Option(5, "--rows", help="sources A (rows)"),
    cols: int = typer.Option(5, "--cols", help="sources B (columns)"),
    levels: str = typer.Option("coarse", "--levels", help="which third of the ws B gives: coarse | middle | fine"),
    out: Path = typer.Option(Path("mix.png"), "--out", "-o", help="PNG file to write"),
    from_: Optional[Path] = typer.Option(None, "--from", help="a `gankit project` folder: its projected images are both A and B"),
    seed: int = typer.Option(0, "--seed", help="latent seed (A uses seed, B seed + 1000)"),
    truncation: float = typer.Option(1.0, "--truncation", help="psi for every source"),
) -> None:
    """Style-mixing grid: A rows, B columns, B's styles replacing A's at the chosen level."""
    from gankit.runs.load import load
    from gankit.viz import save_image_grid

    if rows < 1 or cols < 1:
        raise GankitError("--rows and --cols must be at least 1")
    G = load(run)
    ws = None
    if from_ is not None:
        ws = projected_ws(G, from_)
    images = mix_grid(G, rows, cols, levels, seed, truncation, ws, ws)
    cols = cols if ws is None else len(ws)
    save_image_grid(images, out, nrow=cols + 1, scale=max(1, 64 // images.shape[-1]))
    typer.echo(f"wrote {out} (the top row's {level_text(levels, G.num_ws)} replace each row's)")


def interpolate_command(
    run: Path = typer.Argument(..., help="run folder or checkpoint folder"),
    space: str = typer.Option("z", "--space", help="z (slerp; every generator) | w (lerp; style-based only)"),
    frames: int = typer.Option(60, "--frames", help="frames in the walk"),
    n: int = typer.Option(4, "-n", help="walks side by side"),
    out: Path = typer.Option(Path("walk.gif"), "--out", "-o", help="GIF file to write"),
    seed: int = typer.Option(0, "--seed", help="walks go from the latents of seed to those of seed + 1"),
    fps: int = typer.Option(15, "--fps", help="frames per second"),
    truncation: float = typer.Option(1.0, "--truncation", help="psi (style-based generators)"),
    from_: Optional[Path] = typer.Option(None, "--from", help="a `gankit project` folder: walk through its projected images in order"),
) -> None:
    """A latent walk as a looping GIF (slerp in z, lerp in w)."""
    from gankit.runs.load import load
    from gankit.viz.images import save_gif

    G = load(run)
    if from_ is not None:
        batches, n = projected_walk(G, from_, frames), 1
    else:
        batches = interpolation_frames(G, space, frames, n, seed, truncation)
    scale = max(1, 64 // batches[0].shape[-1])
    grids = [g.repeat(scale, axis=0).repeat(scale, axis=1) for g in _frames_to_uint8(batches, nrow=n)]
    save_gif(grids, out, fps=fps)
    typer.echo(f"wrote {out} ({len(batches)} frames, " + (f"projected latents of {from_})" if from_ else f"{space} space)"))


def truncation_sweep_command(run: Path, sweep: str, n: int, out: Path, seed: int) -> None:
    """`gankit sample --truncation-sweep`: one row per ψ, the same latents in every row."""
    from gankit.runs.load import load
    from gankit.viz import save_image_grid

    G = load(run)
    psis = parse_psis(sweep)
    images = truncation_grid(G, psis, n, seed)
    labels = [f"ψ = {p:g}" for p in psis]
    save_image_grid(images, out, nrow=n, scale=max(1, 64 // images.shape[-1]), row_labels=labels)
    typer.echo(f"wrote {out} (one row per truncation: {', '.join(labels)})")
