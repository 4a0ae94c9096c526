"""DiffAugment (Zhao et al. 2020): differentiable colour, translation and cutout for small datasets.

The same random transformation family is applied to real and generated images on their way into
D (`install_diffaugment`), in the D and the G phases alike, and every operation is
differentiable in the image, so G's gradient flows through it. It is a forward pre-hook on D, so
DDP and torch.compile wrappers of D keep it. Images are in [-1, 1].
- color: brightness + (u − ½), saturation ×2u around the channel mean, contrast ×(u + ½) around the image mean
- translation: shift by up to ⅛ of the size per axis (integer pixels), zero fill
- cutout: a zero square of half the size at a random place
Draws come from a torch.Generator or a SampleDraws (gankit.nn.draws): the trainer passes its
SampleDraws on the saved `noise` stream, so runs resume exactly and global sample j gets the same
transformation whatever the number of processes or accumulation rounds.
"""
from __future__ import annotations

import torch
from torch import nn

from gankit.errors import GankitError
from gankit.nn.draws import Source, per_sample

Tensor = torch.Tensor
POLICIES = ("color", "translation", "cutout")


def parse_policy(policy: str) -> list[str]:
    """'color,translation' -> ['color', 'translation']; unknown names are a GankitError."""
    names = [p.strip() for p in policy.split(",") if p.strip()]
    for name in names:
        if name not in POLICIES:
            raise GankitError(f"augment.diffaugment: unknown policy {name!r}; valid: {', '.join(POLICIES)}")
    return names


def _uniform(n: int, generator: Source, like: Tensor) -> Tensor:
    u = per_sample(generator, n, lambda lead, g: torch.rand(*lead, 1, 1, 1, generator=g))
    return u.to(like.device, like.dtype)  # [N, 1, 1, 1]


def _randint(low: int, high: int, n: int, generator: Source, like: Tensor) -> Tensor:
    return per_sample(generator, n, lambda lead, g: torch.randint(low, high, (*lead, 1, 1), generator=g)).to(like.device)


def rand_color(x: Tensor, generator: Source = None) -> Tensor:
    """Random brightness, saturation and contrast per sample."""
    n = x.shape[0]
    x = x + (_uniform(n, generator, x) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (_uniform(n, generator, x) * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_uniform(n, generator, x) + 0.5) + mean


def rand_translation(x: Tensor, generator: Source = None, ratio: float = 0.125) -> Tensor:
    """Shift each sample by integers in [−ratio·size, ratio·size] per axis, zero fill."""
    n, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty = _randint(-sh, sh + 1, n, generator, x)  # [N, 1, 1]
    tx = _randint(-sw, sw + 1, n, generator, x)
    grid_y = torch.arange(h, device=x.device)[None, :, None] + ty  # [N, H, 1] source rows (+1 for the pad)
    grid_x = torch.arange(w, device=x.device)[None, None, :] + tx  # [N, 1, W]
    grid_y = (grid_y + 1).clamp(0, h + 1).expand(n, h, w)
    grid_x = (grid_x + 1).clamp(0, w + 1).expand(n, h, w)
    padded = nn.functional.pad(x, [1, 1, 1, 1])  # [N, C, H+2, W+2]: out-of-range reads hit the zero border
    index = (grid_y * (w + 2) + grid_x).reshape(n, 1, h * w).expand(-1, x.shape[1], -1)
    return padded.flatten(2).gather(2, index).reshape(x.shape)


def rand_cutout(x: Tensor, generator: Source = None, ratio: float = 0.5) -> Tensor:
    """Zero a square of ratio·size at a random centre per sample."""
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    oy = _randint(0, h + (1 - ch % 2), n, generator, x)  # [N, 1, 1]
    ox = _randint(0, w + (1 - cw % 2), n, generator, x)
    ys = torch.arange(h, device=x.device)[None, :, None]
    xs = torch.arange(w, device=x.device)[None, None, :]
    top, left = oy - ch // 2, ox - cw // 2  # the square is [top, top + ch) × [left, left + cw), clipped
    inside = (ys >= top) & (ys < top + ch) & (xs >= left) & (xs < left + cw)  # [N, H, W]
    return x * (~inside).unsqueeze(1).to(x.dtype)


OPS = {"color": rand_color, "translation": rand_translation, "cutout": rand_cutout}


def diff_augment(x: Tensor, policy: list[str], generator: Source = None) -> Tensor:
    """Apply the policy's operations in order (each with fresh per-sample draws)."""
    for name in policy:
        x = OPS[name](x, generator)
    return x


class DiffAugmentHook:
    """A forward pre-hook on D: in training mode, D(x, c) sees diff_augment(x) (reals and fakes alike)."""

    def __init__(self, policy: str, generator: Source = None) -> None:
        self.policy, self.generator = parse_policy(policy), generator

    def __call__(self, module: nn.Module, args: tuple) -> tuple | None:
        if not module.training or not self.policy:
            return None
        return (diff_augment(args[0], self.policy, self.generator), *args[1:])


def install_diffaugment(D: nn.Module, policy: str, generator: Source = None):
    """Augment D's input with `policy` from now on (in training mode); returns the hook handle (`.remove()`)."""
    return D.register_forward_pre_hook(DiffAugmentHook(policy, generator))
