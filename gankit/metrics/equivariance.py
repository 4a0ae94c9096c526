"""Equivariance metrics of StyleGAN3 (Karras et al. 2021 App. E; SG3 metrics/equivariance.py), REFERENCE §5.

For a generator whose synthesis input can be transformed (`G.synthesis.input.transform`, a 3×3
matrix acting on the input plane), render each w twice — untransformed (`orig`) and with the
input translated or rotated (`img`) — and compare `img` with the same operation applied to
`orig` in image space, in the valid region only. The score is a PSNR in dB with peak 2 (pixels in
[−1, 1]): 20·log10(2) − 10·log10(MSE), the MSE pooled over all samples, channels and masked pixels
in float64.

- EQ-T: integer translations, t ~ U[−⅛, ⅛]² of the image rounded to whole pixels; reference =
  `orig` shifted with zero fill, mask = the copied region.
- EQ-T_frac: the same without rounding; reference = a separable Lanczos-3 resampling of `orig`.
- EQ-R: rotations α ~ U(−π, π); reference = `orig` rotated by a band-limited operator (the
  convolution of two oriented sinc⊗sinc filters, windowed by two oriented Lanczos-3 windows,
  ×4 upsampling, bilinear sampling at the rotated coordinates); `img` is filtered by the same
  construction for −α without resampling (the pseudo-rotation), and both masks multiply.

Each batch (of 4 by default) draws one transform; buffers named `noise_const` (StyleGAN2's
constant noise) are redrawn per batch and restored afterwards; ws come from `G.mapping` with ψ = 1.
"""
from __future__ import annotations

import contextlib
import functools
import math
from typing import Iterable, Iterator

import torch
from torch.nn import functional as F

from gankit.metrics.base import Metric, eval_seed
from gankit.nn.filters import upfirdn2d

Tensor = torch.Tensor
TRANSLATE_MAX = 0.125
EQ_METRICS = ("eqt", "eqt_frac", "eqr")


def sinc(x: Tensor) -> Tensor:
    """sin(πx)/(πx), 1 at 0."""
    y = (x * math.pi).abs()
    return torch.where(y < 1e-30, torch.ones_like(x), torch.sin(y) / y.clamp(min=1e-30))


def lanczos_window(x: Tensor, a: float) -> Tensor:
    """sinc(x/a) inside |x| < a, else 0."""
    x = x.abs() / a
    return torch.where(x < 1, sinc(x), torch.zeros_like(x))


def rotation_matrix(angle: float | Tensor) -> Tensor:
    """rot(θ) = [[cos θ, sin θ, 0], [−sin θ, cos θ, 0], [0, 0, 1]] (SG3's convention)."""
    angle = torch.as_tensor(angle, dtype=torch.float32)
    mat = torch.eye(3)
    mat[0, 0], mat[0, 1], mat[1, 0], mat[1, 1] = angle.cos(), angle.sin(), -angle.sin(), angle.cos()
    return mat


def integer_translation(x: Tensor, tx: float, ty: float) -> tuple[Tensor, Tensor]:
    """x [N, C, H, W] moved by (round(tx·W), round(ty·H)) pixels with zero fill; (moved, mask of copied pixels)."""
    _, _, h, w = x.shape
    ix, iy = int(round(tx * w)), int(round(ty * h))
    z, m = torch.zeros_like(x), torch.zeros_like(x)
    if abs(ix) < w and abs(iy) < h:
        z[:, :, max(iy, 0):h + min(iy, 0), max(ix, 0):w + min(ix, 0)] = x[:, :, max(-iy, 0):h + min(-iy, 0), max(-ix, 0):w + min(-ix, 0)]
        m[:, :, max(iy, 0):h + min(iy, 0), max(ix, 0):w + min(ix, 0)] = 1
    return z, m


def _lanczos_shift_1d(x: Tensor, t: float, dim: int, a: int = 3) -> tuple[Tensor, int]:
    """Resample x along `dim` so that out[p] = Σ_k x[p − ⌊t⌋ − k]·L(k − frac t), k ∈ {−a+1..a}; (out, ⌊t⌋)."""
    shift = math.floor(t)
    frac = t - shift
    taps = torch.arange(-a + 1, a + 1, dtype=torch.float64)  # {−2, …, 3}
    weights = sinc(taps - frac) * sinc((taps - frac) / a)
    weights = (weights / weights.sum()).to(x.dtype)
    n = x.shape[dim]
    out = torch.zeros_like(x)
    for k, wk in zip(taps.long().tolist(), weights):
        src = shift + k  # out[p] takes x[p − src]
        lo, hi = max(src, 0), min(n + src, n)
        if lo < hi:
            out.narrow(dim, lo, hi - lo).add_(x.narrow(dim, lo - src, hi - lo) * wk)
    return out, shift


def fractional_translation(x: Tensor, tx: float, ty: float, a: int = 3) -> tuple[Tensor, Tensor]:
    """x [N, C, H, W] moved by (tx·W, ty·H) pixels with a separable Lanczos-a filter; (moved, valid mask)."""
    _, _, h, w = x.shape
    y, ix = _lanczos_shift_1d(x, tx * w, dim=3, a=a)
    y, iy = _lanczos_shift_1d(y, ty * h, dim=2, a=a)
    m = torch.zeros_like(x)
    x0, x1 = max(ix + a, 0), w + min(ix - a + 1, 0)  # pixels whose every tap lies inside the image
    y0, y1 = max(iy + a, 0), h + min(iy - a + 1, 0)
    if x0 < x1 and y0 < y1:
        m[:, :, y0:y1, x0:x1] = 1
    return y, m


@functools.lru_cache(maxsize=8)
def _input_side(a: int, aflt: int, up: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The unwarped half of `affine_bandlimit_filter`: tap grid (x, y) and the spectra of sinc⊗sinc and its window."""
    taps = ((torch.arange(aflt * up * 2 - 1, dtype=torch.float64) + 1) / up - aflt).roll(1 - aflt * up)
    yi, xi = torch.meshgrid(taps, taps, indexing="ij")
    fi = torch.outer(sinc(taps), sinc(taps))  # sinc(yi)·sinc(xi)
    wi = torch.outer(lanczos_window(taps, a), lanczos_window(taps, a))
    return xi, yi, torch.fft.rfftn(fi), torch.fft.rfftn(wi)


def affine_bandlimit_filter(mat: Tensor, a: int = 3, amax: int = 16, aflt: int = 64, up: int = 4) -> Tensor:
    """The band-limited filter of an affine warp `mat`: sinc⊗sinc (*) its warped copy, times the same for
    Lanczos-a windows, cropped to radius `amax`, each of the up² polyphase components summing to 1/up²."""
    xi, yi, fi_hat, wi_hat = _input_side(a, aflt, up)
    xo, yo = (torch.stack([xi, yi], dim=2) @ mat[:2, :2].double().t()).unbind(2)
    shape = xi.shape
    f = torch.fft.irfftn(fi_hat * torch.fft.rfftn(sinc(xo) * sinc(yo)), s=shape)  # convolution of the two sincs
    w = torch.fft.irfftn(wi_hat * torch.fft.rfftn(lanczos_window(xo, a) * lanczos_window(yo, a)), s=shape)
    f = f * w  # times the convolution of the two windows
    c = (aflt - amax) * up
    f = f.roll([aflt * up - 1] * 2, dims=[0, 1])[c:-c, c:-c]
    f = F.pad(f, [0, 1, 0, 1]).reshape(amax * 2, up, amax * 2, up)
    f = f / f.sum([0, 2], keepdim=True) / (up ** 2)
    return f.reshape(amax * 2 * up, amax * 2 * up)[:-1, :-1].float()


def affine_transformation(x: Tensor, mat: Tensor, a: int = 3, amax: int = 6, up: int = 4) -> tuple[Tensor, Tensor]:
    """x [N, C, H, W] warped by `mat` (rotation about the centre) with band-limited resampling; (warped, mask)."""
    n, _, h, w = x.shape
    f = affine_bandlimit_filter(mat, a=a, amax=amax, up=up).to(x.device)
    p = f.shape[0] // 2
    theta = mat.double().inverse()
    theta[:2, 2] *= 2
    theta[0, 2] += 1 / up / w
    theta[1, 2] += 1 / up / h
    theta[0, :] *= w / (w + p / up * 2)
    theta[1, :] *= h / (h + p / up * 2)
    theta = theta[:2, :3].float().to(x.device).unsqueeze(0).repeat(n, 1, 1)
    g = F.affine_grid(theta, list(x.shape), align_corners=False)
    k = f.shape[0]  # StyleGAN's upsample2d padding for a k-tap filter, plus p on each side
    y = upfirdn2d(x, f, up=up, padding=(p + (k + up - 1) // 2, p + (k - up) // 2) * 2, gain=up * up)  # [N, C, H·up + 2p, W·up + 2p]
    z = F.grid_sample(y, g, mode="bilinear", padding_mode="zeros", align_corners=False)
    m = torch.zeros_like(y)
    c = p * 2 + 1
    m[:, :, c:-c, c:-c] = 1
    m = F.grid_sample(m, g, mode="nearest", padding_mode="zeros", align_corners=False)
    return z, m


def fractional_rotation(x: Tensor, angle: float, a: int = 3) -> tuple[Tensor, Tensor]:
    """x rotated by `angle` (radians, the R_α of App. E.3) with band-limited resampling; (rotated, mask)."""
    return affine_transformation(x, rotation_matrix(angle), a=a, amax=a * 2)


def fractional_pseudo_rotation(x: Tensor, angle: float, a: int = 3) -> tuple[Tensor, Tensor]:
    """x filtered as if rotated by `angle` and back, without resampling (R*_α); (filtered, border mask)."""
    f = affine_bandlimit_filter(rotation_matrix(-angle), a=a, amax=a * 2, up=1).to(x.device)
    c = f.shape[0] // 2
    y = upfirdn2d(x, f, padding=(c, c, c, c))
    m = torch.zeros_like(y)
    m[:, :, c:-c, c:-c] = 1
    return y, m


def _psnr(sum_sq: float, count: float) -> float:
    """20·log10(2) − 10·log10(MSE) with peak 2 (pixels in [−1, 1]); inf for an exact match."""
    mse = sum_sq / max(count, 1e-30)
    return math.inf if mse == 0 else 20 * math.log10(2) - 10 * math.log10(mse)


def transform_of(G: torch.nn.Module) -> Tensor:
    """G's input transform buffer `G.synthesis.input.transform` (3×3), or a ValueError."""
    transform = getattr(getattr(getattr(G, "synthesis", None), "input", None), "transform", None)
    if not isinstance(transform, Tensor) or transform.shape != (3, 3):
        raise ValueError("equivariance metrics need a generator with a transformable input (G.synthesis.input.transform): "
                         "StyleGAN3, or StyleGAN2 with the Fourier input")
    return transform


@contextlib.contextmanager
def full_fp32() -> Iterator[None]:
    """GPU convolutions and matrix products in full fp32, not TF32 (whose 10-bit mantissa would cap the PSNR)."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


@torch.no_grad()
@full_fp32()
def equivariance(G: torch.nn.Module, n: int = 500, seed: int = 0, metrics: Iterable[str] = EQ_METRICS,
                 batch_size: int = 4, progress: bool = False) -> dict[str, float]:
    """PSNRs in dB {'eqt', 'eqt_frac', 'eqr'} (those asked for) of G over `n` latents (REFERENCE §5)."""
    metrics = [m for m in EQ_METRICS if m in set(metrics)]
    transform = transform_of(G)
    device = transform.device
    gen = torch.Generator().manual_seed(seed)
    sums = {m: [0.0, 0.0] for m in metrics}  # Σ squared error · mask, Σ mask (float64)
    noise_bufs = [b for name, b in G.named_buffers() if name.endswith("noise_const")]
    saved_noise = [b.clone() for b in noise_bufs]
    saved_transform = transform.clone()
    c_dim = getattr(G, "c_dim", 0)
    was_training = G.training
    G.eval()  # no EMA updates (w̄, magnitude EMAs) while measuring
    from tqdm.auto import tqdm

    try:
        for start in tqdm(range(0, n, batch_size), desc="equivariance", disable=not progress, leave=False):
            b = min(batch_size, n - start)
            for buf in noise_bufs:
                buf.copy_(torch.randn(buf.shape, generator=gen).to(buf))
            z = torch.randn(b, G.z_dim, generator=gen).to(device)
            c = F.one_hot(torch.arange(start, start + b) % c_dim, c_dim).float().to(device) if c_dim else None
            ws = G.mapping(z, c)  # ψ = 1

            def render(matrix: Tensor) -> Tensor:
                transform.copy_(matrix)
                return G.synthesis(ws, noise_mode="const").float()  # [b, C, H, W]

            orig = render(torch.eye(3))
            res = orig.shape[-1]
            for m in metrics:
                if m == "eqr":
                    angle = float((torch.rand([], generator=gen) * 2 - 1) * math.pi)
                    img = render(rotation_matrix(-angle))
                    ref, ref_mask = fractional_rotation(orig, angle)
                    img, img_mask = fractional_pseudo_rotation(img, angle)
                    mask = ref_mask * img_mask
                else:
                    t = (torch.rand(2, generator=gen, dtype=torch.float64) * 2 - 1) * TRANSLATE_MAX
                    if m == "eqt":
                        t = (t * res).round() / res
                    matrix = torch.eye(3)
                    matrix[:2, 2] = -t.float()
                    img = render(matrix)
                    shift = integer_translation if m == "eqt" else fractional_translation
                    ref, mask = shift(orig, float(t[0]), float(t[1]))
                sums[m][0] += float(((ref.double() - img.double()).square() * mask).sum())
                sums[m][1] += float(mask.double().sum())
    finally:
        G.train(was_training)
        transform.copy_(saved_transform)
        for buf, saved in zip(noise_bufs, saved_noise):
            buf.copy_(saved)
    return {m: _psnr(*sums[m]) for m in metrics}


def eq_t(G: torch.nn.Module, n: int = 500, seed: int = 0, **kwargs) -> float:
    """EQ-T (integer translations), PSNR in dB."""
    return equivariance(G, n, seed, ["eqt"], **kwargs)["eqt"]


def eq_t_frac(G: torch.nn.Module, n: int = 500, seed: int = 0, **kwargs) -> float:
    """EQ-T_frac (sub-pixel translations), PSNR in dB."""
    return equivariance(G, n, seed, ["eqt_frac"], **kwargs)["eqt_frac"]


def eq_r(G: torch.nn.Module, n: int = 500, seed: int = 0, **kwargs) -> float:
    """EQ-R (rotations), PSNR in dB."""
    return equivariance(G, n, seed, ["eqr"], **kwargs)["eqr"]


# ---- registration in the metric registry (gankit eval --metrics eqt,eqt_frac,eqr) ----------------
CPU_DEFAULT_N = 500  # GUIDE §8: the paper uses 50,000; on CPU about 500, recorded with the result


def _check_transformable(ctx) -> None:
    from gankit.errors import GankitError

    G = getattr(ctx.source, "G", None)
    try:
        transform_of(G)
    except ValueError as err:
        raise GankitError(f"{err}; this source ({ctx.source.description}) has none") from None


def _registered_metric(name: str, summary: str):
    def run(ctx, n: int) -> tuple[dict, None]:
        value = equivariance(ctx.source.G, n, eval_seed(ctx.seed), [name], progress=ctx.progress)[name]
        return {name: value}, None  # a property of G alone: no real-data floor

    return Metric(name, summary, "image", run, CPU_DEFAULT_N, check=_check_transformable)


def register_metrics() -> None:
    """Add eqt, eqt_frac and eqr to gankit.registry.METRICS (called once by gankit.metrics.evaluate)."""
    from gankit.registry import METRICS

    for name, summary in (("eqt", "EQ-T: PSNR (dB, peak 2) of integer translations of the input vs of the output"),
                          ("eqt_frac", "EQ-T_frac: PSNR (dB) of sub-pixel translations, Lanczos-3 reference"),
                          ("eqr", "EQ-R: PSNR (dB) of rotations of the input vs band-limited rotations of the output")):
        if name not in METRICS:
            METRICS.register(name)(_registered_metric(name, summary))
