"""Mode coverage of samples from a Gaussian mixture (VEEGAN 2017 / PacGAN 2018; GUIDE §6).

A sample is high quality when it lies within `threshold` standard deviations of its nearest
mode; a mode is covered when it is the nearest mode of at least one high-quality sample; the
reverse KL is KL(histogram of the high-quality samples' modes ‖ uniform over the modes).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch


@dataclass(frozen=True)
class ModeCoverage:
    modes_covered: int
    num_modes: int
    high_quality: float  # fraction of samples within threshold stds of their nearest mode
    reverse_kl: float  # nats; inf when no sample is high quality
    num_samples: int

    def as_dict(self) -> dict:
        return asdict(self)


def kl_to_uniform(p: torch.Tensor) -> float:
    """KL(p ‖ uniform) in nats of a histogram `p` [K] that sums to 1 (empty bins add nothing)."""
    nonzero = p[p > 0]
    return float((nonzero * (nonzero * p.numel()).log()).sum())


def mode_coverage(samples: torch.Tensor, means: torch.Tensor, stds: torch.Tensor, threshold: float = 3.0) -> ModeCoverage:
    """Coverage of `samples` [N, D] against mixture `means` [K, D] with isotropic `stds` [K]."""
    x = samples.detach().double().reshape(len(samples), -1)  # [N, D]
    mu = means.double().reshape(len(means), -1)  # [K, D]
    distance = torch.cdist(x, mu)  # [N, K]
    nearest_distance, nearest = distance.min(dim=1)  # [N]
    good = nearest_distance < threshold * stds.double()[nearest]  # [N]
    counts = torch.bincount(nearest[good], minlength=len(mu)).double()  # [K]
    kl = kl_to_uniform(counts / counts.sum()) if counts.sum() > 0 else math.inf
    return ModeCoverage(int((counts > 0).sum()), len(mu), float(good.double().mean()), kl, len(x))
