"""Perceptual path length (Karras et al. 2019; StyleGAN2-ADA metrics/perceptual_path_length.py; REFERENCE §8).

For each sample draw two latents z0, z1 and t (uniform in [0, 1) for `full`; for `end` t = 0, which by
the symmetry of z0 and z1 is the paper's t ∈ {0, 1}, as both official implementations draw it);
in z the path is slerp(z0, z1, ·) and both points go through the mapping, in w it is the lerp of
mapping(z0) and mapping(z1). The images at t and t + ε (ε = 1e-4; rendered with constant noise) give
d(img_t, img_{t+ε}) / ε²; PPL is the mean of these values after discarding those below the 1st and
above the 99th percentile. The distance is the one `gankit project` uses
(gankit.metrics.distances.select_distance): LPIPS-VGG16, the paper's, when the user gives its
weights (`--lpips-weights`), else the offline fmnist-cnn (grey) or effnet-lite0 (RGB) feature
distance, else pixel MSE; it is stamped in the result with the count and seed. No face crop (the
paper crops faces; that is off here). The paper draws 50,000 samples; on CPU the default is 1,000.

Registered as `ppl_zfull`, `ppl_wfull`, `ppl_zend`, `ppl_wend`, and `ppl` (= w, end: StyleGAN2's choice).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from gankit.errors import GankitError
from gankit.metrics.base import Metric, eval_seed

Tensor = torch.Tensor
EPSILON = 1e-4
CPU_DEFAULT_N = 1_000
VARIANTS = {"ppl": ("w", "end"), "ppl_zfull": ("z", "full"), "ppl_wfull": ("w", "full"),
            "ppl_zend": ("z", "end"), "ppl_wend": ("w", "end")}


def slerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """Spherical interpolation of the rows of a and b [N, D] at t [N] (directions only, as the paper's code)."""
    a = a / a.norm(dim=-1, keepdim=True)
    b = b / b.norm(dim=-1, keepdim=True)
    d = (a * b).sum(-1, keepdim=True).clamp(-1, 1)  # [N, 1]
    p = t[:, None] * torch.acos(d)
    c = b - d * a
    c = c / c.norm(dim=-1, keepdim=True).clamp(min=1e-12)
    out = a * torch.cos(p) + c * torch.sin(p)
    return out / out.norm(dim=-1, keepdim=True)


def trimmed_mean(values: np.ndarray, low: float = 1.0, high: float = 99.0) -> tuple[float, np.ndarray]:
    """(mean, kept values): the values between the `low` and `high` percentiles (inclusive; numpy's linear percentiles)."""
    lo, hi = np.percentile(values, low), np.percentile(values, high)
    kept = values[(values >= lo) & (values <= hi)]
    return float(kept.mean()), kept


def path_lengths(render: Callable[[Tensor], Tensor], lat0: Tensor, lat1: Tensor, t: Tensor, distance,
                 interpolate: Callable[[Tensor, Tensor, Tensor], Tensor], epsilon: float = EPSILON) -> Tensor:
    """d(render(p_t), render(p_{t+ε})) / ε² per sample [N], p = interpolate(lat0, lat1, ·)."""
    a = interpolate(lat0, lat1, t)
    b = interpolate(lat0, lat1, t + epsilon)
    images = render(torch.cat([a, b]))  # [2N, C, H, W]
    x, y = images.chunk(2)
    return distance(x, y).double() / epsilon ** 2


def _lerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    return torch.lerp(a, b, t.view(-1, *([1] * (a.ndim - 1))))


@torch.no_grad()
def perceptual_path_length(G, n: int = CPU_DEFAULT_N, space: str = "w", sampling: str = "end", seed: int = 0,
                           distance=None, batch_size: int = 50, epsilon: float = EPSILON,
                           progress: bool = False) -> dict:
    """PPL of G: {"ppl", "ppl_std" of the kept values, "n", "n_kept"} (see the module docstring)."""
    from tqdm.auto import tqdm

    from gankit.metrics.distances import select_distance

    if space not in ("z", "w") or sampling not in ("full", "end"):
        raise GankitError(f"PPL space must be z or w and sampling full or end; got {space!r}, {sampling!r}")
    style = hasattr(G, "mapping") and hasattr(G, "synthesis")
    if space == "w" and not style:
        raise GankitError(f"PPL in w needs a style-based generator; {type(G).__name__} has no mapping (use ppl_zfull or ppl_zend)")
    if G.c_dim:
        raise GankitError("PPL of conditional generators is not supported")
    device = next(G.parameters()).device
    if distance is None:
        distance = select_distance(G.img_channels, G.img_resolution, device=device)
    gen = torch.Generator().manual_seed(seed)
    was_training = G.training
    G.eval()
    values = []
    try:
        for start in tqdm(range(0, n, batch_size), desc=f"ppl {space} {sampling}", disable=not progress, leave=False):
            b = min(batch_size, n - start)
            z = torch.randn(2 * b, G.z_dim, generator=gen).to(device)  # [2b, z_dim]
            t = torch.rand(b, generator=gen, dtype=torch.float64).float().to(device)  # [b]
            if sampling == "end":
                t = torch.zeros_like(t)
            z0, z1 = z.chunk(2)
            if not style:
                render, lat0, lat1, interp = (lambda p: G(p)), z0, z1, slerp
            elif space == "z":
                render = lambda p: G.synthesis(G.mapping(p, None), noise_mode="const")  # noqa: E731
                lat0, lat1, interp = z0, z1, slerp
            else:
                render = lambda p: G.synthesis(p.expand(-1, G.num_ws, -1), noise_mode="const")  # noqa: E731
                lat0, lat1, interp = G.mapping(z0, None)[:, :1], G.mapping(z1, None)[:, :1], _lerp  # [b, 1, w_dim]
            values.append(path_lengths(render, lat0, lat1, t, distance, interp, epsilon).cpu())
    finally:
        G.train(was_training)
    all_values = torch.cat(values).numpy()
    mean, kept = trimmed_mean(all_values)
    return {"ppl": mean, "ppl_std": float(kept.std()), "n": int(n), "n_kept": int(kept.size)}


def protocol(space: str, sampling: str, distance) -> dict:
    """What defines a PPL value besides its count and seed."""
    return {"space": space, "sampling": sampling, "epsilon": EPSILON, "path": "slerp in z" if space == "z" else "lerp in w",
            "trim": "mean of values within the 1st-99th percentile", "noise_mode": "const", "crop": "none",
            **distance.protocol()}


def _registered(name: str) -> Metric:
    space, sampling = VARIANTS[name]

    def run(ctx, n: int) -> tuple[dict, None]:
        result = perceptual_path_length(ctx.source.G, n, space, sampling, eval_seed(ctx.seed), ctx.distance,
                                        progress=ctx.progress)
        return {name: result["ppl"], f"{name}_std": result["ppl_std"], f"{name}_kept": result["n_kept"]}, None  # no floor

    def check(ctx) -> None:
        G = getattr(ctx.source, "G", None)
        if G is None:
            raise GankitError(f"{name} measures a generator; {ctx.source.description} is not one")
        if space == "w" and not (hasattr(G, "mapping") and hasattr(G, "synthesis")):
            raise GankitError(f"{name} needs a style-based generator (a mapping network); use ppl_zfull or ppl_zend")
        if G.c_dim:
            raise GankitError(f"{name} does not support conditional generators")
        _ = ctx.distance  # its weights are loaded (or refused) before any metric starts

    def stamp(ctx) -> dict:
        return protocol(space, sampling, ctx.distance)

    summary = (f"perceptual path length, {space} space, {sampling} sampling, ε 1e-4, LPIPS-VGG16 (--lpips-weights) "
               "or an offline feature distance")
    return Metric(name, summary, "image", run, CPU_DEFAULT_N, check=check, protocol=stamp, distance=True)


def register_metrics() -> None:
    """Add ppl, ppl_zfull, ppl_wfull, ppl_zend, ppl_wend to gankit.registry.METRICS."""
    from gankit.registry import METRICS

    for name in VARIANTS:
        if name not in METRICS:
            METRICS.register(name)(_registered(name))

