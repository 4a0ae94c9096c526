"""The two dataset kinds (in-memory uint8 images, sampled toy mixtures) and batched image helpers."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import torch
import torch.nn.functional as F

from gankit.errors import GankitError


@dataclass(eq=False)
class ImageDataset:
    """In-memory image dataset: uint8 pixels, batched by index tensors with no per-sample Python."""

    name: str
    images: torch.Tensor  # uint8 [N, C, H, W]
    labels: torch.Tensor | None  # int64 [N], None when unlabelled
    num_classes: int  # 0 when unlabelled
    class_names: list[str] | None = None
    origin: str = ""  # where the images came from, e.g. "image folder /abs/pets" ("" for registered datasets)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, why) left out while loading
    kind: ClassVar[str] = "image"

    @property
    def resolution(self) -> int:
        """Image side length (images are square)."""
        return int(self.images.shape[-1])

    @property
    def channels(self) -> int:
        """1 (grey) or 3 (RGB)."""
        return int(self.images.shape[1])

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def describe(self) -> str:
        """One line: images, size and channels, classes with names, files skipped and why."""
        colour = "RGB" if self.channels == 3 else "grey"
        text = f"{self.name}: {len(self):,} images, {self.resolution}x{self.resolution} {colour}"
        if self.num_classes:
            names = self.class_names or [str(k) for k in range(self.num_classes)]
            shown = ", ".join(names[:10]) + (f", ... ({len(names) - 10} more)" if len(names) > 10 else "")
            text += f", {self.num_classes} classes ({shown})"
        else:
            text += ", unlabelled"
        if self.origin:
            text += f"; {self.origin}"
        return text + (f"; {describe_skipped(self.skipped)}" if self.skipped else "")

    def to(self, device: torch.device | str) -> ImageDataset:
        """Move pixels and labels to `device` in place; returns self."""
        self.images = self.images.to(device)
        if self.labels is not None:
            self.labels = self.labels.to(device)
        return self

    def get(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """float32 [B, C, H, W] in [-1, 1] (x/127.5 - 1), and int64 labels [B] or None."""
        index = index.to(self.images.device)
        x = self.images[index].to(torch.float32).div_(127.5).sub_(1.0)  # [B, C, H, W]
        return x, None if self.labels is None else self.labels[index]


@dataclass(eq=False)
class ToyDistribution:
    """A Gaussian mixture sampled fresh every batch (toy data lives in its own coordinates)."""

    name: str
    means: torch.Tensor  # float64 [K, D]
    stds: torch.Tensor  # float64 [K]   isotropic std per component
    weights: torch.Tensor  # float64 [K]   sums to 1
    kind: ClassVar[str] = "vector"
    num_classes: ClassVar[int] = 0

    @property
    def dim(self) -> int:
        """Dimension D of a sample."""
        return int(self.means.shape[1])

    def describe(self) -> str:
        """One line: the mixture's name, modes and dimension."""
        return f"{self.name}: Gaussian mixture of {self.means.shape[0]} modes in {self.dim}-D"

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """float32 [n, D] drawn with `generator` only (on the generator's device)."""
        device = self.means.device
        comp = torch.multinomial(self.weights, n, replacement=True, generator=generator)  # [n]
        noise = torch.randn(n, self.dim, generator=generator, dtype=torch.float64, device=device)  # [n, D]
        return (self.means[comp] + noise * self.stds[comp, None]).to(torch.float32)

    def log_density(self, x: torch.Tensor) -> torch.Tensor:
        """Log of the mixture density at points x [n, D]; float64 [n]."""
        x = x.to(device=self.means.device, dtype=torch.float64)
        sq = torch.cdist(x, self.means).square()  # [n, K]
        var = self.stds.square()  # [K]
        log_norm = -0.5 * self.dim * torch.log(2 * math.pi * var)  # [K]
        return torch.logsumexp(self.weights.log() + log_norm - sq / (2 * var), dim=1)

    def to(self, device: torch.device | str) -> ToyDistribution:
        """Move the mixture parameters to `device` in place; returns self."""
        self.means, self.stds, self.weights = (t.to(device) for t in (self.means, self.stds, self.weights))
        return self


def describe_skipped(skipped: list[tuple[str, str]]) -> str:
    """'skipped 3 files (2 not an image (.txt), 1 unreadable)': counts per reason (the text before any ':')."""
    reasons: dict[str, int] = {}
    for _, why in skipped:
        reason = why.split(":", 1)[0]
        reasons[reason] = reasons.get(reason, 0) + 1
    parts = ", ".join(f"{count} {why}" for why, count in sorted(reasons.items(), key=lambda kv: -kv[1]))
    return f"skipped {len(skipped)} file{'s' if len(skipped) != 1 else ''} ({parts})"


def random_xflip(x: torch.Tensor, generator: torch.Generator, shard: slice = slice(None),
                 global_batch: int | None = None) -> torch.Tensor:
    """Flip each image of [B, C, H, W] left-right with probability 1/2, batched (one rand draw).

    In distributed training `x` is this rank's `shard` of a `global_batch`: the draw covers the
    global batch, so each image's flip does not depend on the number of ranks.
    """
    draw = torch.rand(global_batch or x.shape[0], generator=generator, device=generator.device)
    flip = (draw < 0.5)[shard].to(x.device)  # [B]
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def resize_batch(images: torch.Tensor, resolution: int, chunk: int = 8192) -> torch.Tensor:
    """Resize uint8 [N, C, H, W] to [N, C, R, R]: area (box) filter down, bicubic up (uint8 kernel); in chunks."""
    if images.shape[-2:] == (resolution, resolution):
        return images
    size = (resolution, resolution)
    down = resolution < min(images.shape[-2:])

    def resize(x: torch.Tensor) -> torch.Tensor:  # [n, C, H, W] -> [n, C, R, R]
        if down:
            return F.interpolate(x.float(), size=size, mode="area").round_().clamp_(0, 255).to(torch.uint8)
        # torch's uint8 bicubic kernel: matches Pillow's BICUBIC, 3x faster than a float round trip
        return F.interpolate(x, size=size, mode="bicubic", align_corners=False, antialias=True)

    return torch.cat([resize(part) for part in images.split(chunk)])


def set_channels(images: torch.Tensor, channels: int | None) -> torch.Tensor:
    """Grey uint8 [N, 1, H, W] -> [N, channels, H, W] (3 repeats the grey channel)."""
    if channels is None or channels == images.shape[1]:
        return images
    if channels == 3 and images.shape[1] == 1:
        return images.repeat(1, 3, 1, 1)
    raise GankitError(f"channels={channels} is not supported for grey images; use channels=1 or channels=3")


def check_resolution(resolution: int | None) -> None:
    """Raise a GankitError unless `resolution` is None or a positive int."""
    if resolution is not None and (not isinstance(resolution, int) or resolution < 1):
        raise GankitError(f"resolution must be a positive integer, got {resolution!r}")


def check_channels(channels: int | None) -> None:
    """Raise a GankitError unless `channels` is None, 1 or 3."""
    if channels not in (None, 1, 3):
        raise GankitError(f"channels must be 1 or 3 (or left out to infer), got {channels!r}")


def check_split(split: str, name: str, has_test: bool = True) -> None:
    """Raise a GankitError unless `split` is "train", or "test" where the dataset has one."""
    valid = ("train", "test") if has_test else ("train",)
    if split not in valid:
        raise GankitError(f"{name} has no split {split!r}; valid: {', '.join(valid)}")
