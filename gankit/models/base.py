"""What every generator and discriminator shares: the one signature, conditioning, sampling."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from gankit.errors import GankitError


def one_hot(c: torch.Tensor | None, c_dim: int, n: int, device: torch.device | str = "cpu") -> torch.Tensor | None:
    """Labels int [N] or one-hot [N, c_dim] -> float one-hot [N, c_dim]; None when unconditional."""
    if c_dim == 0:
        return None
    if c is None:
        raise GankitError(f"this model is conditional (c_dim={c_dim}): pass class labels")
    if c.dtype in (torch.int64, torch.int32, torch.int16, torch.uint8):
        if c.numel() and (int(c.min()) < 0 or int(c.max()) >= c_dim):
            raise GankitError(f"class labels must lie in 0..{c_dim - 1}")
        return nn.functional.one_hot(c.long().reshape(n), c_dim).float().to(device)
    return c.float().to(device)


def image_output(x: torch.Tensor, training: bool) -> torch.Tensor:
    """A style-based G's images: unbounded while training, as in the papers (D sees values outside
    [-1, 1] and pushes them back), clamped to [-1, 1] in eval mode (the generator API's range).

    A straight-through clamp in training lets the raw output drift unchecked (measured on ProGAN:
    raw minimum -3.9 -> -6.2 in 500 steps at 8 px, bounded without the clamp)."""
    return x if training else x.clamp(-1, 1)


@dataclass
class DataOptions:
    """Options every network takes from its data (filled by resolve_model_options)."""

    c_dim: int = 0
    img_resolution: int = 28
    img_channels: int = 1


@dataclass
class DOptions(DataOptions):
    """Options every discriminator takes: its data's shape and PacGAN packing."""

    pack: int = 1  # PacGAN (Lin et al. 2018): D scores m samples concatenated, one logit per pack
    freeze_layers: int = 0  # Freeze-D (Mo et al. 2020): D's first N layers (blocks for StyleGAN) are not trained


@dataclass
class GOptions(DataOptions):
    """Options every generator takes: its data's shape and the latent size."""

    z_dim: int = 100


def copy_shape(module: nn.Module, opts: DOptions) -> None:
    """Set the shape attributes of the generator API (z_dim, c_dim, img_*, data_dim) from options."""
    for name in ("z_dim", "c_dim", "img_resolution", "img_channels", "data_dim"):
        if hasattr(opts, name):
            setattr(module, name, getattr(opts, name))


class Generator(nn.Module):
    """Base of every G: `G(z, c=None) -> [N, C, H, W]` in [-1, 1] (or [N, D] for vector data)."""

    z_dim: int
    c_dim: int
    img_resolution: int
    img_channels: int
    data_dim: int = 0  # > 0 for vector (toy) data

    @property
    def is_vector(self) -> bool:
        return self.data_dim > 0

    def __call__(self, z: torch.Tensor, c: torch.Tensor | None = None, *args, **kwargs) -> torch.Tensor:
        """G(z, c): a conditional G called without labels is one clear error (not a shape error deep inside)."""
        if c is None and getattr(self, "c_dim", 0):
            raise GankitError(f"this generator is conditional (c_dim={self.c_dim}): pass labels c, one-hot [N, {self.c_dim}] "
                              "(or use G.sample(n, c=class_index))")
        return super().__call__(z, c, *args, **kwargs)

    def latents(self, n: int, seed: int | None = None, c: torch.Tensor | int | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """A reproducible z [n, z_dim] and labels [n] (cycling 0..c_dim-1 when `c` is None)."""
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        z = torch.randn(n, self.z_dim, generator=gen)
        if self.c_dim == 0:
            return z, None
        if c is None:
            labels = torch.arange(n) % self.c_dim
        elif isinstance(c, int):
            labels = torch.full((n,), c, dtype=torch.long)
        else:
            labels = c
        return z, labels

    @torch.no_grad()
    def sample(self, n: int, c: torch.Tensor | int | None = None, seed: int | None = None, batch_size: int = 256) -> torch.Tensor:
        """`n` samples [n, C, H, W] in [-1, 1] (or [n, D]); same seed, same samples."""
        device = next(self.parameters()).device
        z, labels = self.latents(n, seed, c)
        chunks = []
        for start in range(0, n, batch_size):
            zc = z[start:start + batch_size].to(device)
            cc = one_hot(labels[start:start + batch_size], self.c_dim, len(zc), device) if labels is not None else None
            chunks.append(self(zc, cc).float().cpu())
        out = torch.cat(chunks) if chunks else torch.empty(0)
        return out if self.is_vector else out.clamp(-1, 1)


class Discriminator(nn.Module):
    """Base of every D: `D(x, c=None) -> logits [N]` (higher = more real)."""

    c_dim: int
    img_resolution: int
    img_channels: int
    data_dim: int = 0

    def layer_groups(self) -> list[list[nn.Parameter]]:
        """D's layers from the input side, each as its parameters (Freeze-D freezes the first N). Here:
        every module with weights of its own in registration order, normalization layers joining the layer before."""
        groups: list[list[nn.Parameter]] = []
        for name, module in self.named_modules():
            if "parametrizations" in name.split("."):
                continue  # a parametrized weight (spectral norm) belongs to its layer, below
            own = list(module.parameters(recurse=False))
            if hasattr(module, "parametrizations"):
                own += list(module.parametrizations.parameters())
            if not own:
                continue
            if groups and isinstance(module, (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)):
                groups[-1] += own
            else:
                groups.append(own)
        return groups


def frozen_parameters(D: Discriminator, n: int) -> list[nn.Parameter]:
    """The parameters of D's first `n` layers (Freeze-D); a GankitError when D has fewer."""
    if n <= 0:
        return []
    groups = D.layer_groups()
    if n > len(groups):
        raise GankitError(f"D.freeze_layers={n}, but this D has {len(groups)} layers; use 0..{len(groups) - 1}")
    return [p for group in groups[:n] for p in group]


class PackedDiscriminator(Discriminator):
    """PacGAN packing for any D: [N, ...] -> [N/m, m*C, ...] (m consecutive samples side by side
    on the feature/channel axis) -> one logit per pack [N/m]. The inner D is built for m*C inputs."""

    def __init__(self, inner: Discriminator, pack: int, opts: DOptions) -> None:
        super().__init__()
        copy_shape(self, opts)
        self.inner, self.pack = inner, pack

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        if x.shape[0] % self.pack:
            raise GankitError(f"D.pack={self.pack}: the batch ({x.shape[0]}) must be a multiple of the pack size")
        packed = x.reshape(x.shape[0] // self.pack, self.pack * x.shape[1], *x.shape[2:])  # [N/m, m*C, ...]
        return self.inner(packed)  # [N/m]

    def layer_groups(self) -> list[list[nn.Parameter]]:
        return self.inner.layer_groups()


@dataclass(frozen=True)
class ModelFamily:
    """A registered family: its option dataclasses and builders (see gankit.models.build_models)."""

    name: str
    G_options: type
    D_options: type
    build_G: Callable[[object], Generator]
    build_D: Callable[[object], Discriminator]
    vector_data: bool = False  # can it model [N, D] toy data?
    summary: str = ""
    packs_itself: bool = False  # its D handles `D.pack` itself (not wrapped in PackedDiscriminator)
