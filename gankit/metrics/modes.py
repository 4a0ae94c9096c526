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


def mode_coverage(samples: torch.Tensor, means: torch.Tensor, stds: torch.Tensor, threshold: float = 3.0) -> ModeCoverage:
    """Coverage of `samples` [N, D] against mixture `means` [K, D] with isotropic `stds` [K]."""
    x = samples.detach().double().reshape(len(samples), -1)  # [N, D]
    mu = means.double().reshape(len(means), -1)  # [K, D]
    distance = torch.cdist(x, mu)  # [N, K]
    nearest_distance, nearest = distance.min(dim=1)  # [N]
    good = nearest_distance < threshold * stds.double()[nearest]  # [N]
    counts = torch.bincount(nearest[good], minlength=len(mu)).double()  # [K]
    k = len(mu)
    if counts.sum() == 0:
        kl = math.inf
    else:
        p = counts / counts.sum()
        kl = float((p[p > 0] * (p[p > 0] * k).log()).sum())
    return ModeCoverage(int((counts > 0).sum()), k, float(good.double().mean()), kl, len(x))
