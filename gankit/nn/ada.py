"""Adaptive discriminator augmentation (Karras et al. 2020): the differentiable `bgc` pipeline.

Every image D sees goes through the same random transformations, each op applied to a sample with
probability p (REFERENCE §7; strengths as in the paper's `bgc` configuration):
- b (pixel blitting): x-flip, 90° rotations, integer translation up to ⅛ of the size per axis.
  These map pixels to pixels, so they run as an exact gather (reflect at the border).
- g (general geometry): isotropic scale (log2-normal, std 0.2), arbitrary rotation (uniform in ±π;
  before and after the anisotropic scale, each with probability 1 − √(1 − p), so that a sample is
  rotated with probability p), anisotropic scale (log2-normal, std 0.2), fractional translation
  (normal, std ⅛ of the size). Composed into one affine matrix per sample and applied with one
  resampling: reflect padding, ×2 upsampling with the sym6 wavelet low-pass, bilinear sampling,
  ×2 downsampling with the same (orthogonal) filter, so that an identity matrix changes nothing
  but float rounding. Only the samples that drew a g op are resampled.
- c (colour): brightness (normal, std 0.2), contrast (log2-normal, std 0.5), luma flip, hue
  rotation about the luma axis (uniform in ±π), saturation (log2-normal, std 1), composed into
  one 4×4 colour matrix per sample. **Grey images**: a grey value is treated as the RGB pixel
  (g, g, g) and the output's three channels are averaged, so brightness, contrast and luma flip
  act on the luma; hue rotation and saturation leave the luma axis fixed (they are the identity
  on grey) and are skipped for one-channel images, drawing nothing.
The integer (b) ops come first, then the g resampling, then the colour matrix; the matrices map
output pixels to input pixels in pixel units centred on the image.

Every op is differentiable in the image (G's gradient and R1's double backward flow through it).
Draws come from a torch.Generator or, in training, the trainer's SampleDraws (gankit.nn.draws), as
DiffAugment's do: keyed by global sample index, so resume is exact and the draws do not depend on
the number of processes or accumulation rounds. p = 0 returns the input itself, drawing nothing.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from gankit.errors import GankitError
from gankit.nn.draws import Source, per_sample
from gankit.nn.filters import resampling_matrix

Tensor = torch.Tensor

OPS = {"b": ("xflip", "rotate90", "xint"), "g": ("scale", "rotate", "aniso", "xfrac"),
       "c": ("brightness", "contrast", "lumaflip", "hue", "saturation")}
XINT_MAX, SCALE_STD, ANISO_STD, XFRAC_STD = 0.125, 0.2, 0.2, 0.125
BRIGHTNESS_STD, CONTRAST_STD, SATURATION_STD = 0.2, 0.5, 1.0
# The sym6 wavelet's decomposition low-pass filter (Daubechies' least-asymmetric wavelet with 6
# vanishing moments; the standard coefficients, as tabulated in PyWavelets). Orthogonal:
# Σ h[k]·h[k + 2m] = δ(m), which makes ×2 upsampling followed by its transpose the identity.
SYM6 = (0.015404109327027373, 0.0034907120842174702, -0.11799011114819057, -0.048311742585633,
        0.4910559419267466, 0.787641141030194, 0.3379294217276218, -0.07263752278646252,
        -0.021060292512300564, 0.04472490177066578, 0.0017677118642428036, -0.007800708325034148)
# sym6 is not symmetric: its centroid Σk·h[k]/Σh sits at k ≈ 5.098 rather than 5.5, so the ×2 upsampled
# grid is offset from the input's; the resampling shifts its coordinates by this much (input pixels)
# so that rotations and scalings act about the true image centre.
UPSAMPLE_OFFSET = 0.25 - (sum(k * h for k, h in enumerate(SYM6)) / sum(SYM6) - 5.0) / 2
FILTER_MARGIN = len(SYM6) // 4  # input pixels the ×2 filters reach beyond an image's edge


def parse_pipeline(spec: str) -> tuple[str, ...]:
    """'bgc' -> the op names of groups b, g and c (in the pipeline's order); anything else is a GankitError."""
    if not spec or any(ch not in OPS for ch in spec) or len(set(spec)) != len(spec):
        raise GankitError(f"augment.pipeline must be letters from 'bgc' (blit, geometry, colour), got {spec!r}")
    return tuple(op for group in "bgc" if group in spec for op in OPS[group])


# ---- matrices (batched, output pixel -> input pixel, centred pixel coordinates) ----------------
def _eye(n: int, size: int) -> Tensor:
    return torch.eye(size).expand(n, size, size).clone()  # [n, size, size]


def translation(tx: Tensor, ty: Tensor) -> Tensor:
    """[n, 3, 3] inverse matrices that move the content by (tx, ty) pixels (x right, y down)."""
    m = _eye(len(tx), 3)
    m[:, 0, 2], m[:, 1, 2] = -tx, -ty
    return m


def scaling(sx: Tensor, sy: Tensor) -> Tensor:
    """[n, 3, 3] inverse matrices that scale the content by (sx, sy) about the image centre."""
    m = _eye(len(sx), 3)
    m[:, 0, 0], m[:, 1, 1] = 1 / sx, 1 / sy
    return m


def rotation(theta: Tensor) -> Tensor:
    """[n, 3, 3] inverse matrices that rotate the content by theta (radians) about the image centre."""
    c, s = torch.cos(theta), torch.sin(theta)
    m = _eye(len(theta), 3)
    m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1] = c, s, -s, c
    return m


def _luma_axis() -> Tensor:
    return torch.tensor([1.0, 1.0, 1.0]) / math.sqrt(3.0)  # [3]


# ---- executing the transformations --------------------------------------------------------------
def blit(x: Tensor, m: Tensor) -> Tensor:
    """Apply integer matrices m [n, 3, 3] (entries 0/±1, integer translation) exactly: a gather,
    reading reflected pixels beyond the border. Needs a square image for 90° rotations."""
    n, c, h, w = x.shape
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    out = torch.stack([xs - (w - 1) / 2, ys - (h - 1) / 2, torch.ones_like(xs)]).reshape(3, h * w)  # [3, HW]
    src = m @ out  # [n, 3, HW]
    sx = _reflect((src[:, 0] + (w - 1) / 2).round().long(), w)  # [n, HW]
    sy = _reflect((src[:, 1] + (h - 1) / 2).round().long(), h)
    index = (sy * w + sx).to(x.device)[:, None, :].expand(n, c, h * w)
    return x.reshape(n, c, h * w).gather(2, index).reshape(n, c, h, w)


def _reflect(i: Tensor, size: int) -> Tensor:
    """Indices reflected into [0, size) (edge pixel not repeated), for overshoots below `size`."""
    i = torch.where(i < 0, -i, i)
    return torch.where(i > size - 1, 2 * (size - 1) - i, i).clamp(0, size - 1)


def resample(x: Tensor, m: Tensor) -> Tensor:
    """Apply affine matrices m [n, 3, 3] (output -> input, centred pixels) with one band-limited
    resampling: reflect pad, ×2 sym6 upsampling, bilinear sampling of the image plus the filters'
    margin, ×2 sym6 downsampling (the upsampling's transpose: the filter is orthogonal), crop."""
    n, c, h, w = x.shape
    m = m.to(x.device, torch.float32)
    corners = torch.tensor([[-w / 2, -h / 2, 1], [w / 2, -h / 2, 1], [w / 2, h / 2, 1], [-w / 2, h / 2, 1]],
                           device=x.device).T  # [3, 4]
    reach = (m @ corners)[:, :2].abs().amax(dim=(0, 2))  # [2]: how far the inputs read lie from the centre
    overshoot = max(float(reach[0]) - w / 2, float(reach[1]) - h / 2, 0.0)
    pad = int(min(math.ceil(overshoot) + FILTER_MARGIN + 1, min(h, w) - 1))  # +1: bilinear reads a pixel beyond
    x = F.pad(x, [pad] * 4, mode="reflect")  # [n, c, Hp, Wp]
    hp, wp = h + 2 * pad, w + 2 * pad
    ho, wo = h + 2 * FILTER_MARGIN, w + 2 * FILTER_MARGIN  # the output canvas: the image and the margin its downsampling reads
    f = torch.tensor(SYM6, device=x.device)

    def up(size: int) -> Tensor:  # [2·size, size]
        return resampling_matrix(size, f, up=2, pad=(6, 5), gain=math.sqrt(2)).to(x.dtype)

    x = up(hp) @ x @ up(wp).T  # [n, c, 2Hp, 2Wp]
    delay = torch.eye(3, device=m.device)
    delay[:2, 2] = UPSAMPLE_OFFSET
    to_input = torch.diag(torch.tensor([2 / wp, 2 / hp, 1.0], device=m.device))  # pixels -> grid_sample's [-1, 1]
    to_output = torch.diag(torch.tensor([2 / wo, 2 / ho, 1.0], device=m.device))
    theta = to_input @ torch.linalg.inv(delay) @ m @ delay @ torch.linalg.inv(to_output)
    grid = F.affine_grid(theta[:, :2].to(x.dtype), [n, c, 2 * ho, 2 * wo], align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)  # [n, c, 2Ho, 2Wo]
    x = (up(ho).T @ x @ up(wo)) / 4  # [n, c, Ho, Wo]
    return x[:, :, FILTER_MARGIN:FILTER_MARGIN + h, FILTER_MARGIN:FILTER_MARGIN + w]


def apply_colour(x: Tensor, m: Tensor) -> Tensor:
    """Apply colour matrices m [n, 4, 4] (homogeneous RGB) to RGB images, or to grey ones as (g, g, g)
    with the three outputs averaged."""
    n, c, h, w = x.shape
    m = m.to(x.device, x.dtype)
    flat = x.reshape(n, c, h * w)
    if c == 3:
        out = m[:, :3, :3] @ flat + m[:, :3, 3:]
    elif c == 1:
        rows = m[:, :3].mean(dim=1)  # [n, 4]
        out = flat * rows[:, :3].sum(dim=1)[:, None, None] + rows[:, 3][:, None, None]
    else:
        raise GankitError(f"ADA's colour ops need 1 or 3 channels, got {c}; use augment.pipeline=bg")
    return out.reshape(n, c, h, w)


class AdaptiveAugment:
    """The ADA pipeline with probability `p` (set by the trainer's ADA hook); a forward pre-hook on D
    through `install`, active in training mode only."""

    def __init__(self, pipeline: str = "bgc", p: float = 0.0, generator: Source = None) -> None:
        self.ops = parse_pipeline(pipeline)
        self.groups = pipeline
        self.p, self.generator = float(p), generator

    # per-sample draws: with the trainer's SampleDraws, keyed by global sample index
    def _rand(self, n: int) -> Tensor:
        return per_sample(self.generator, n, lambda lead, g: torch.rand(*lead, generator=g)).cpu()  # [n]

    def _randn(self, n: int) -> Tensor:
        return per_sample(self.generator, n, lambda lead, g: torch.randn(*lead, generator=g)).cpu()  # [n]

    def _gate(self, n: int, prob: float) -> Tensor:
        return self._rand(n) < prob  # [n] bool

    def __call__(self, x: Tensor) -> Tensor:
        """Augment a batch [N, C, H, W]: each op on each sample with probability p."""
        if self.p <= 0:
            return x
        n, c, h, w = x.shape
        if "b" in self.groups:
            blit_m, used = self._blit_matrix(n, h, w)
            if used.any():
                x = torch.where(used[:, None, None, None].to(x.device), blit(x, blit_m), x)
        if "g" in self.groups:
            geo_m, used = self._geometry_matrix(n, h, w)
            if used.any():
                idx = used.nonzero().squeeze(1).to(x.device)
                x = x.index_copy(0, idx, resample(x[idx], geo_m[used]).to(x.dtype))  # (autocast may lower the matmuls)
        if "c" in self.groups:
            colour_m, used = self._colour_matrix(n, c)
            if used.any():
                x = torch.where(used[:, None, None, None].to(x.device), apply_colour(x, colour_m).to(x.dtype), x)
        return x

    def _blit_matrix(self, n: int, h: int, w: int) -> tuple[Tensor, Tensor]:
        """x-flip, 90° rotations (square images) and integer translation: [n, 3, 3] and which samples use one."""
        p = self.p
        flip = torch.where(self._gate(n, p), (self._rand(n) * 2).floor(), torch.zeros(n))  # 0 or 1
        quarter = torch.where(self._gate(n, p), (self._rand(n) * 4).floor(), torch.zeros(n))  # 0..3
        if h != w:
            quarter = torch.zeros(n)  # 90° rotations of a non-square image would change its shape
        gate = self._gate(n, p)
        tx = torch.where(gate, ((self._rand(n) * 2 - 1) * XINT_MAX * w).round(), torch.zeros(n))
        ty = torch.where(gate, ((self._rand(n) * 2 - 1) * XINT_MAX * h).round(), torch.zeros(n))
        m = scaling(1 - 2 * flip, torch.ones(n)) @ rotation(quarter * math.pi / 2).round() @ translation(tx, ty)
        return m, (flip != 0) | (quarter != 0) | (tx != 0) | (ty != 0)

    def _geometry_matrix(self, n: int, h: int, w: int) -> tuple[Tensor, Tensor]:
        """Isotropic scale, rotation, anisotropic scale, rotation, fractional translation: [n, 3, 3], used."""
        p = self.p
        p_rot = 1 - math.sqrt(max(1 - p, 0.0))  # P(rotated before or after the anisotropic scale) = p
        g_scale = self._gate(n, p)
        s = torch.where(g_scale, torch.exp2(self._randn(n) * SCALE_STD), torch.ones(n))
        g_rot1 = self._gate(n, p_rot)
        theta1 = torch.where(g_rot1, (self._rand(n) * 2 - 1) * math.pi, torch.zeros(n))
        g_aniso = self._gate(n, p)
        a = torch.where(g_aniso, torch.exp2(self._randn(n) * ANISO_STD), torch.ones(n))
        g_rot2 = self._gate(n, p_rot)
        theta2 = torch.where(g_rot2, (self._rand(n) * 2 - 1) * math.pi, torch.zeros(n))
        g_frac = self._gate(n, p)
        tx = torch.where(g_frac, self._randn(n) * XFRAC_STD * w, torch.zeros(n))
        ty = torch.where(g_frac, self._randn(n) * XFRAC_STD * h, torch.zeros(n))
        m = (scaling(s, s) @ rotation(theta1) @ scaling(a, 1 / a) @ rotation(theta2) @ translation(tx, ty))
        return m, g_scale | g_rot1 | g_aniso | g_rot2 | g_frac

    def _colour_matrix(self, n: int, channels: int) -> tuple[Tensor, Tensor]:
        """Brightness, contrast, luma flip, hue rotation, saturation (the last two RGB only): [n, 4, 4], used."""
        p, v = self.p, _luma_axis()
        g_b = self._gate(n, p)
        b = torch.where(g_b, self._randn(n) * BRIGHTNESS_STD, torch.zeros(n))
        g_c = self._gate(n, p)
        k = torch.where(g_c, torch.exp2(self._randn(n) * CONTRAST_STD), torch.ones(n))
        g_l = self._gate(n, p)
        flip = torch.where(g_l, (self._rand(n) * 2).floor(), torch.zeros(n))
        m = _eye(n, 4)
        m[:, :3, 3] = b[:, None]  # brightness: add b to every channel
        m = torch.diag_embed(torch.stack([k, k, k, torch.ones(n)], 1)) @ m  # contrast about 0
        vv = torch.zeros(4, 4)
        vv[:3, :3] = torch.outer(v, v)  # projection onto the luma axis
        m = (torch.eye(4) - 2 * vv * flip[:, None, None]) @ m  # luma flip: a reflection across the grey plane
        used = g_b | g_c | (flip != 0)
        if channels != 1:
            g_h = self._gate(n, p)
            theta = torch.where(g_h, (self._rand(n) * 2 - 1) * math.pi, torch.zeros(n))
            m = _hue_rotation(theta, v) @ m
            g_s = self._gate(n, p)
            s = torch.where(g_s, torch.exp2(self._randn(n) * SATURATION_STD), torch.ones(n))
            m = (vv + (torch.eye(4) - vv) * s[:, None, None]) @ m  # scale the chroma, keep the luma
            used = used | g_h | g_s
        return m, used

    def hook(self, module: nn.Module, args: tuple) -> tuple | None:
        """Forward pre-hook: D(x, c) sees the augmented x while D is in training mode."""
        if not module.training or self.p <= 0:
            return None
        return (self(args[0]), *args[1:])

    def install(self, D: nn.Module):
        """Augment D's input from now on; returns the hook handle (`.remove()`)."""
        return D.register_forward_pre_hook(self.hook)


def _hue_rotation(theta: Tensor, v: Tensor) -> Tensor:
    """[n, 4, 4] rotations by theta about the unit axis v [3] (Rodrigues' formula)."""
    n = len(theta)
    cross = torch.tensor([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])
    c, s = torch.cos(theta)[:, None, None], torch.sin(theta)[:, None, None]
    r = c * torch.eye(3) + s * cross + (1 - c) * torch.outer(v, v)  # [n, 3, 3]
    m = _eye(n, 4)
    m[:, :3, :3] = r
    return m
