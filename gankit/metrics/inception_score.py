"""Inception Score (Salimans et al. 2016; GUIDE §7).

IS = exp(E_x KL(p(y|x) ‖ p(y))), with p(y) the mean prediction of the split, computed per split
and reported as mean and population (ddof = 0) standard deviation over splits, as the original
code does. Splits are as equal as possible and use every sample (`torch.tensor_split`).
"""
from __future__ import annotations

import torch

from gankit.metrics.stats import ArrayLike, as_float64


def inception_score(logits_or_probs: ArrayLike, splits: int = 10, from_logits: bool = True) -> tuple[float, float]:
    """(mean, std) IS over `splits` of predictions [N, C]: logits if `from_logits`, else probabilities."""
    x = as_float64(logits_or_probs)  # [N, C]
    if x.ndim != 2 or len(x) < splits:
        raise ValueError(f"expected predictions [N >= splits={splits}, C], got {tuple(x.shape)}")
    p = x.softmax(dim=1) if from_logits else x  # [N, C]
    scores = []
    for part in torch.tensor_split(p, splits):  # each [~N/splits, C]
        py = part.mean(dim=0, keepdim=True)  # [1, C]
        kl = (torch.special.xlogy(part, part) - torch.special.xlogy(part, py)).sum(dim=1)  # [n]
        scores.append(kl.mean().exp())
    s = torch.stack(scores)  # [splits]
    return float(s.mean()), float(s.std(correction=0))
