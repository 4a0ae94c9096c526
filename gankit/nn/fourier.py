"""The transformable Fourier-feature input of StyleGAN3 (and of StyleGAN2 config B), REFERENCE §4.

Usage:
    inp = SynthesisInput(w_dim=512, channels=512, size=36, sampling_rate=16, bandwidth=2)
    x = inp(w)                      # w [N, w_dim] -> x [N, channels, size, size]
    inp.transform.copy_(M)          # a 3×3 user transform of the input plane (identity by default)

Each channel is a sinusoid sin(2π(⟨grid, f⟩ + φ)) with a frequency f drawn uniformly from the disc of
radius `bandwidth` and a phase φ ~ U[-½, ½). A zero-initialized affine maps w to a rotation
(r_c, r_s, normalised) and a translation (t_x, t_y); the frequencies and phases are transformed
by T = M_r · M_t · transform, each sinusoid is faded out as |f| nears the Nyquist rate
(sampling_rate / 2), the grid spans ±size/(2·sampling_rate) through pixel centres, and a trainable
C×C matrix (randn, scaled by 1/√C) mixes the channels.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from gankit.nn.layers import EqualizedLinear


def disc_frequencies(channels: int, bandwidth: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Frequencies [channels, 2] uniform on the disc of radius `bandwidth` (g/|g|·exp(-|g|²/4)·bw, g ~ N(0, I))."""
    freqs = torch.randn(channels, 2, generator=generator)
    radii = freqs.square().sum(dim=1, keepdim=True).sqrt()
    return freqs / (radii * radii.square().exp().pow(0.25)) * bandwidth


class SynthesisInput(nn.Module):
    """w [N, w_dim] -> Fourier features [N, channels, size, size]; `transform` is a 3×3 buffer."""

    def __init__(self, w_dim: int, channels: int, size: int, sampling_rate: float, bandwidth: float) -> None:
        super().__init__()
        self.w_dim, self.channels, self.size = w_dim, channels, int(size)
        self.sampling_rate, self.bandwidth = float(sampling_rate), float(bandwidth)
        self.weight = nn.Parameter(torch.randn(channels, channels))  # [C_out, C_in]
        self.affine = EqualizedLinear(w_dim, 4)  # w -> (r_c, r_s, t_x, t_y)
        with torch.no_grad():
            self.affine.weight.zero_()
            self.affine.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0]))
        self.register_buffer("transform", torch.eye(3))  # user transform of the input plane
        self.register_buffer("freqs", disc_frequencies(channels, bandwidth))  # [C, 2]
        self.register_buffer("phases", torch.rand(channels) - 0.5)  # [C]

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        n = w.shape[0]
        t = self.affine(w)  # [N, 4]
        t = t / t[:, :2].norm(dim=1, keepdim=True)  # normalise the rotation part
        eye = torch.eye(3, device=w.device, dtype=w.dtype)
        m_r = eye.repeat(n, 1, 1)  # [N, 3, 3] rotation by (r_c, r_s)
        m_r[:, 0, 0], m_r[:, 0, 1], m_r[:, 1, 0], m_r[:, 1, 1] = t[:, 0], -t[:, 1], t[:, 1], t[:, 0]
        m_t = eye.repeat(n, 1, 1)  # [N, 3, 3] translation by (-t_x, -t_y)
        m_t[:, 0, 2], m_t[:, 1, 2] = -t[:, 2], -t[:, 3]
        transforms = m_r @ m_t @ self.transform.to(w.dtype).unsqueeze(0)  # [N, 3, 3]

        freqs = self.freqs.to(w.dtype).unsqueeze(0)  # [1, C, 2]
        phases = self.phases.to(w.dtype).unsqueeze(0) + (freqs @ transforms[:, :2, 2:]).squeeze(2)  # [N, C]
        freqs = freqs @ transforms[:, :2, :2]  # [N, C, 2]
        amplitudes = (1 - (freqs.norm(dim=2) - self.bandwidth) / (self.sampling_rate / 2 - self.bandwidth)).clamp(0, 1)

        half_extent = 0.5 * self.size / self.sampling_rate
        theta = torch.tensor([[half_extent, 0.0, 0.0], [0.0, half_extent, 0.0]], device=w.device, dtype=w.dtype)
        grid = F.affine_grid(theta.unsqueeze(0), [1, 1, self.size, self.size], align_corners=False)  # [1, H, W, 2] (x, y)
        x = torch.einsum("hwd,ncd->nhwc", grid[0], freqs) + phases[:, None, None, :]  # [N, H, W, C]
        x = torch.sin(x * (2 * math.pi)) * amplitudes[:, None, None, :]
        x = x @ (self.weight / math.sqrt(self.channels)).t()  # [N, H, W, C]
        return x.permute(0, 3, 1, 2).contiguous()  # [N, C, H, W]

    def extra_repr(self) -> str:
        return (f"w_dim={self.w_dim}, channels={self.channels}, size={self.size}, "
                f"sampling_rate={self.sampling_rate:g}, bandwidth={self.bandwidth:g}")
