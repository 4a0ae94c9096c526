"""Fréchet distance speed and agreement: gankit's factorised form vs a `scipy.linalg.sqrtm` reference.

    python benchmarks/frechet.py [--dim 2048] [--samples 4096] [--repeats 5]

Statistics of ReLU features (like Inception pool features) at `--dim`; the reference is the
classic pytorch-fid formula with `scipy.linalg.sqrtm`. Prints medians of `--repeats` runs of
each, in the same process, their ratio, and the relative difference of the two values.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import scipy.linalg
import torch

from gankit.metrics.frechet import frechet_distance, mean_cov


def sqrtm_reference(mu1, s1, mu2, s2) -> float:
    """FD with scipy's general matrix square root (pytorch-fid's formula)."""
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean.real))


def timed(fn, repeats: int) -> tuple[float, float]:
    """(median seconds, value) over `repeats` calls."""
    times, value = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--samples", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    g = torch.Generator().manual_seed(0)
    mixing = torch.randn(args.dim, args.dim, generator=g, dtype=torch.float64) / args.dim ** 0.5
    a = torch.relu(torch.randn(args.samples, args.dim, generator=g, dtype=torch.float64) @ mixing)
    b = torch.relu(torch.randn(args.samples, args.dim, generator=g, dtype=torch.float64) @ mixing + 0.1)
    (mu1, s1), (mu2, s2) = mean_cov(a), mean_cov(b)
    ours_s, ours = timed(lambda: frechet_distance(mu1, s1, mu2, s2), args.repeats)
    np_stats = [t.numpy() for t in (mu1, s1, mu2, s2)]
    ref_s, ref = timed(lambda: sqrtm_reference(*np_stats), args.repeats)
    print(f"dim {args.dim}, {args.samples} samples, median of {args.repeats}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    print(f"gankit frechet_distance: {ours_s:.3f} s  value {ours:.10g}")
    print(f"scipy sqrtm reference:   {ref_s:.3f} s  value {ref:.10g}")
    print(f"speed-up {ref_s / ours_s:.1f}x, relative difference {abs(ours - ref) / abs(ref):.2e}")


if __name__ == "__main__":
    main()
