"""Alias-free signal processing for StyleGAN3 in pure PyTorch (REFERENCE §4; Karras et al. 2021 App. C).

- `lowpass_filter`: Kaiser-windowed sinc (what `scipy.signal.firwin(numtaps, cutoff, width=..., fs=...)`
  designs), or the radially symmetric jinc-based 2-D filter of config R.
- `upfirdn2d`: zero-insert ×up, pad (negative = crop), convolve with a separable 1-D or a 2-D FIR
  filter, keep every down-th sample. `upfirdn2d_reference` is the same op written literally.
- `filtered_lrelu`: bias, upsample with the up filter (gain up²), leaky ReLU·gain, clamp, low-pass
  with the down filter and downsample — the nonlinearity of every StyleGAN3 layer.
- `blur_kernel`: the Gaussian-like 2^(-(k/σ)²) kernel of StyleGAN3-R's discriminator blur.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
from torch.nn import functional as F

Padding = Sequence[int]  # (x_lo, x_hi, y_lo, y_hi)


def kaiser_attenuation(numtaps: int, width: float) -> float:
    """Kaiser's stop-band attenuation (dB) for `numtaps` taps and a transition `width` (fraction of Nyquist)."""
    return 2.285 * (numtaps - 1) * math.pi * width + 7.95


def kaiser_beta(attenuation: float) -> float:
    """Kaiser's window parameter β for an attenuation in dB."""
    if attenuation > 50:
        return 0.1102 * (attenuation - 8.7)
    if attenuation > 21:
        return 0.5842 * (attenuation - 21) ** 0.4 + 0.07886 * (attenuation - 21)
    return 0.0


def kaiser_window(numtaps: int, beta: float) -> np.ndarray:
    """The symmetric Kaiser window I0(β·√(1 − (2n/(M−1) − 1)²)) / I0(β), n = 0..M−1 (float64)."""
    if numtaps == 1:
        return np.ones(1)
    n = np.arange(numtaps)
    return np.i0(beta * np.sqrt(1 - (2 * n / (numtaps - 1) - 1) ** 2)) / np.i0(beta)


def lowpass_filter(numtaps: int, cutoff: float, width: float, fs: float, radial: bool = False) -> torch.Tensor | None:
    """A low-pass FIR filter with DC gain 1: 1-D Kaiser sinc [numtaps] or 2-D jinc [numtaps, numtaps].

    `cutoff` (−6 dB point) and `width` (transition band) are in the units of the sampling rate `fs`.
    One tap means no filter (None).
    """
    if numtaps < 1:
        raise ValueError(f"numtaps must be >= 1, got {numtaps}")
    if numtaps == 1:
        return None
    beta = kaiser_beta(kaiser_attenuation(numtaps, width / (fs / 2)))
    window = kaiser_window(numtaps, beta)
    if not radial:
        c = cutoff / (fs / 2)  # cutoff as a fraction of Nyquist
        m = np.arange(numtaps) - (numtaps - 1) / 2
        f = c * np.sinc(c * m) * window
        return torch.as_tensor(f / f.sum(), dtype=torch.float32)
    x = (np.arange(numtaps) - (numtaps - 1) / 2) / fs
    r = np.hypot(*np.meshgrid(x, x))
    with np.errstate(invalid="ignore", divide="ignore"):
        jinc = torch.special.bessel_j1(torch.as_tensor(2 * math.pi * cutoff * r)).numpy() / (math.pi * r)
    f = np.where(r == 0, cutoff, jinc) * np.outer(window, window)  # J1(2π f_c r)/(π r) → f_c as r → 0
    return torch.as_tensor(f / f.sum(), dtype=torch.float32)


def blur_kernel(sigma: float) -> torch.Tensor | None:
    """Separable kernel ∝ 2^(−(k/σ)²), |k| ≤ ⌊3σ⌋, summing to 1 (None when σ ≤ 0 or it is one tap)."""
    radius = int(math.floor(sigma * 3)) if sigma > 0 else 0
    if radius < 1:
        return None
    k = torch.arange(-radius, radius + 1, dtype=torch.float32)
    f = torch.exp2(-(k / sigma).square())
    return f / f.sum()


def _pad4(padding: int | Padding) -> tuple[int, int, int, int]:
    if isinstance(padding, int):
        return (padding,) * 4
    if len(padding) == 2:
        return (padding[0], padding[0], padding[1], padding[1])
    return tuple(int(p) for p in padding)  # type: ignore[return-value]


def _zero_insert(x: torch.Tensor, up: int) -> torch.Tensor:
    """[N, C, H, W] -> [N, C, H·up, W·up]: each sample followed by up−1 zeros along each axis."""
    if up == 1:
        return x
    n, c, h, w = x.shape
    x = x.reshape(n, c, h, 1, w, 1)
    x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
    return x.reshape(n, c, h * up, w * up)


def resampling_matrix(n: int, f: torch.Tensor | None, up: int = 1, down: int = 1, pad: tuple[int, int] = (0, 0),
                      gain: float = 1.0) -> torch.Tensor:
    """The 1-D upfirdn (zero-insert ×up, pad, convolve with f·gain, keep every down-th) as a matrix [n_out, n].

    out[o] = Σ_i x[i]·f[k − 1 − (i·up + pad_lo − o·down)], the taps that fall inside the filter.
    """
    device = None if f is None else f.device  # built where the filter lives (the GPU in GPU training)
    taps = (torch.ones(1, device=device) if f is None else f).float() * gain
    k = len(taps)
    n_out = (n * up + pad[0] + pad[1] - k) // down + 1
    o = torch.arange(max(n_out, 0), device=device)[:, None]
    i = torch.arange(n, device=device)[None, :]
    idx = k - 1 - i * up - pad[0] + o * down  # [n_out, n]
    inside = (idx >= 0) & (idx < k)
    return torch.where(inside, taps[idx.clamp(0, k - 1)], taps.new_zeros(()))


def upfirdn2d(x: torch.Tensor, f: torch.Tensor | None, up: int = 1, down: int = 1, padding: int | Padding = 0,
              gain: float = 1.0) -> torch.Tensor:
    """Upsample (zero insertion), pad, FIR-filter (true convolution) and downsample [N, C, H, W].

    `f` is a 1-D filter applied along both axes, a 2-D filter, or None (a single tap of 1); the
    filter is multiplied by `gain` overall (by √gain per axis when separable). Output size per
    axis: (in·up + pad_lo + pad_hi − taps + 1) / down, rounded up. A separable filter runs as two
    banded matrix products (one per axis), which fold in the zero insertion, padding and striding
    and are several times faster on CPU than depthwise convolutions.
    """
    if f is None or f.ndim == 1:
        m_h, m_w = _axis_matrices(x.shape[2], x.shape[3], f, up, down, padding, gain, x)
        return _apply(m_h, x, m_w)  # [N, C, H_out, W_out]
    px0, px1, py0, py1 = _pad4(padding)
    x = F.pad(_zero_insert(x, up), [px0, px1, py0, py1])  # negative padding crops
    return F.conv2d(x, _depthwise_kernel(f, gain, x), stride=down, groups=x.shape[1])


def _depthwise_kernel(f: torch.Tensor, gain: float, like: torch.Tensor) -> torch.Tensor:
    """The 2-D filter f·gain as a depthwise conv2d weight [C, 1, k, k] for `like` [N, C, H, W]
    (flipped: conv2d correlates, upfirdn2d convolves)."""
    return (f * gain).to(like.device, like.dtype).flip([0, 1])[None, None].expand(like.shape[1], 1, *f.shape)


def upfirdn2d_reference(x: torch.Tensor, f: torch.Tensor | None, up: int = 1, down: int = 1,
                        padding: int | Padding = 0, gain: float = 1.0) -> torch.Tensor:
    """The same op as `upfirdn2d`, written as explicit loops over output pixels (slow; for tests)."""
    px0, px1, py0, py1 = _pad4(padding)
    n, c, h, w = x.shape
    z = torch.zeros(n, c, h * up, w * up, dtype=torch.float64)
    z[:, :, ::up, ::up] = x.double()
    z = F.pad(z, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    z = z[:, :, max(-py0, 0):z.shape[2] - max(-py1, 0), max(-px0, 0):z.shape[3] - max(-px1, 0)]
    if f is None:
        f2 = torch.ones(1, 1, dtype=torch.float64)
    elif f.ndim == 1:
        f2 = torch.outer(f.double(), f.double())
    else:
        f2 = f.double()
    f2 = f2 * gain
    kh, kw = f2.shape
    out_h, out_w = z.shape[2] - kh + 1, z.shape[3] - kw + 1
    out = torch.zeros(n, c, out_h, out_w, dtype=torch.float64)
    for i in range(out_h):
        for j in range(out_w):
            # convolution: y[i, j] = Σ z[i + a, j + b] · f[kh−1−a, kw−1−b]
            out[:, :, i, j] = (z[:, :, i:i + kh, j:j + kw] * f2.flip(0, 1)).sum(dim=(2, 3))
    return out[:, :, ::down, ::down].to(x.dtype)


def _axis_matrices(h: int, w: int, f: torch.Tensor | None, up: int, down: int, padding: int | Padding,
                   gain: float, like: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """The [H_out, H] and [W_out, W] matrices of a separable upfirdn2d on an H×W map (both None for the identity)."""
    px0, px1, py0, py1 = _pad4(padding)
    if f is None and up == down == 1 and gain == 1 and not any((px0, px1, py0, py1)):
        return None, None
    f = None if f is None else f.to(torch.float32)
    g = math.sqrt(gain)
    m_h = resampling_matrix(h, f, up, down, (py0, py1), g).to(like.device, like.dtype)
    m_w = resampling_matrix(w, f, up, down, (px0, px1), g).to(like.device, like.dtype)
    return m_h, m_w


def _apply(m_h: torch.Tensor | None, x: torch.Tensor, m_w: torch.Tensor | None, transpose: bool = False) -> torch.Tensor:
    """m_h @ x @ m_wᵀ over the last two axes (or m_hᵀ @ x @ m_w), skipping identity (None) matrices."""
    if m_h is None:
        return x
    if transpose:
        return m_h.t() @ (x @ m_w)
    return m_h @ (x @ m_w.t())


class _Down:
    """filtered_lrelu's last stage, f_down and ÷down: two banded matrices (separable filter) or a
    strided depthwise convolution (2-D filter, config R's radial ones); its forward and its adjoint."""

    def __init__(self, m_h: torch.Tensor | None, m_w: torch.Tensor | None, kernel: torch.Tensor | None, stride: int):
        self.m_h, self.m_w, self.kernel, self.stride = m_h, m_w, kernel, stride

    def tensors(self) -> tuple:
        return self.m_h, self.m_w, self.kernel

    def __call__(self, a: torch.Tensor) -> torch.Tensor:
        if self.kernel is None:
            return _apply(self.m_h, a, self.m_w)
        return F.conv2d(a, self.kernel.to(a.dtype), stride=self.stride, groups=a.shape[1])

    def adjoint(self, grad: torch.Tensor, a_shape: torch.Size) -> torch.Tensor:
        if self.kernel is None:
            cast = [None if m is None else m.to(grad.dtype) for m in (self.m_h, self.m_w)]
            return _apply(cast[0], grad, cast[1], transpose=True)
        return torch.nn.grad.conv2d_input(a_shape, self.kernel.to(grad.dtype), grad, stride=self.stride,
                                          groups=a_shape[1])


def _fused_filtered_lrelu(x, up_h, up_w, down: _Down, slope: float, gain: float, clamp: float | None,
                          with_slopes: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The fused op's forward: (output, the activation's derivative code per upsampled pixel, or None).

    Code (uint8): 1 where the leaky ReLU had slope 1 (u > 0, its own rule), +2 where the clamp cut.
    """
    a = F.leaky_relu(_apply(up_h, x, up_w), slope).mul_(gain)  # [N, C, H·up + pad, W·up + pad]
    code = (a > 0).to(torch.uint8) if with_slopes else None
    if clamp is not None:
        if with_slopes:
            code.add_((a.abs() > clamp).to(torch.uint8).mul_(2))
        a = a.clamp_(-clamp, clamp)
    return down(a), code  # [N, C, H_out, W_out]


class _FusedFilteredLReLU(torch.autograd.Function):
    """×up with a separable f_up, leaky ReLU·gain, clamp, f_down (separable or 2-D) and ÷down as one op.

    Every step but the activation is linear, so the backward pass needs only the activation's
    derivative at each upsampled pixel: it keeps one byte per pixel, where autograd over the
    composition keeps three or four float copies of the upsampled map (most of StyleGAN3's memory).
    """

    @staticmethod
    def forward(ctx, x, up_h, up_w, down_h, down_w, down_kernel, stride: int, slope: float, gain: float,
                clamp: float | None):
        down = _Down(down_h, down_w, down_kernel, stride)
        y, code = _fused_filtered_lrelu(x, up_h, up_w, down, slope, gain, clamp, True)
        ctx.slope, ctx.gain, ctx.stride, ctx.a_shape = slope, gain, stride, code.shape
        ctx.save_for_backward(code, up_h, up_w, *down.tensors())
        return y

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        code, up_h, up_w, down_h, down_w, down_kernel = ctx.saved_tensors
        grad_a = _Down(down_h, down_w, down_kernel, ctx.stride).adjoint(grad, ctx.a_shape)
        gain, slope = ctx.gain, ctx.slope
        # d(activation)/du: gain where u > 0, slope·gain elsewhere, 0 where clamped (code ≥ 2)
        slopes = torch.where(code < 2, (code & 1).to(grad.dtype).mul_(gain - slope * gain).add_(slope * gain), 0)
        up_h, up_w = [None if m is None else m.to(grad.dtype) for m in (up_h, up_w)]
        return (_apply(up_h, grad_a * slopes, up_w, transpose=True),) + (None,) * 9


def filtered_lrelu(x: torch.Tensor, f_up: torch.Tensor | None, f_down: torch.Tensor | None, bias: torch.Tensor | None = None,
                   up: int = 1, down: int = 1, padding: int | Padding = 0, gain: float = math.sqrt(2),
                   slope: float = 0.2, clamp: float | None = None) -> torch.Tensor:
    """bias → ×up with f_up (gain up²) and `padding` → leaky ReLU·gain → clamp → f_down and ÷down.

    With a separable (1-D or no) f_up this runs as one memory-lean op (`_FusedFilteredLReLU`; f_down
    separable, or 2-D as config R's radial filters; first derivatives only, which is all StyleGAN3's
    G needs); a 2-D f_up composes upfirdn2d.
    """
    if bias is not None:
        x = x + bias.to(x.dtype).view(1, -1, 1, 1)
    if f_up is None or f_up.ndim == 1:
        up_h, up_w = _axis_matrices(x.shape[2], x.shape[3], f_up, up, 1, padding, up ** 2, x)
        h_mid = x.shape[2] if up_h is None else up_h.shape[0]
        w_mid = x.shape[3] if up_w is None else up_w.shape[0]
        if f_down is not None and f_down.ndim == 2:
            kernel = _depthwise_kernel(f_down, 1.0, x)
            down_h = down_w = None
        else:
            kernel = None
            down_h, down_w = _axis_matrices(h_mid, w_mid, f_down, 1, down, 0, 1.0, x)
        if not (torch.is_grad_enabled() and x.requires_grad):  # sampling: no slopes to keep
            return _fused_filtered_lrelu(x, up_h, up_w, _Down(down_h, down_w, kernel, down), slope, gain, clamp,
                                         False)[0]
        return _FusedFilteredLReLU.apply(x, up_h, up_w, down_h, down_w, kernel, down, slope, gain, clamp)
    x = upfirdn2d(x, f_up, up=up, padding=padding, gain=up ** 2)
    x = F.leaky_relu(x, slope) * gain if slope != 1 else x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return upfirdn2d(x, f_down, down=down)
